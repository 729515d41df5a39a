package directory

import (
	"net/url"
	"strconv"
	"strings"
)

// Redirect URI rules, as Entra's app registrations have them
// (learn.microsoft.com "Redirect URI (reply URL) best practices and
// limitations"): at most 256 per application and 256 characters each,
// absolute, no fragment, no wildcard; https, or http on a loopback host.
// Native public clients may also register a URI of their own scheme
// (com.example.app://auth).
const (
	maxRedirectURIs   = 256
	maxRedirectURILen = 256
)

// RedirectKind says which platform a registered redirect URI belongs to.
type RedirectKind int

const (
	// RedirectWeb is a web application's (confidential: the code is
	// redeemed with the client secret) or a native public client's.
	RedirectWeb RedirectKind = iota + 1
	// RedirectSPA is a single-page application's: the code is redeemed
	// from the browser (a cross-origin request), with PKCE and without a
	// secret, and its refresh tokens live 24 hours at most.
	RedirectSPA
)

// checkRedirectURIs validates an application's redirect URIs of one kind.
func checkRedirectURIs(at entryRef, field string, uris []string, kind RedirectKind, public bool) error {
	if len(uris) > maxRedirectURIs {
		return invalid(at, field, "%s has %d entries; an application may register at most %d.", field, len(uris), maxRedirectURIs)
	}
	seen := map[string]bool{}
	for i, s := range uris {
		f := field + "[" + strconv.Itoa(i) + "]"
		if why := redirectProblem(s, kind, public); why != "" {
			return invalid(at, f, "redirect URI %q %s.", clipDir(s), why)
		}
		if seen[s] {
			return invalid(at, f, "redirect URI %q is listed twice.", s)
		}
		seen[s] = true
	}
	return nil
}

// redirectProblem says what is wrong with a redirect URI, "" when nothing.
func redirectProblem(s string, kind RedirectKind, public bool) string {
	if s == "" {
		return "is empty"
	}
	if len(s) > maxRedirectURILen {
		return "is longer than 256 characters"
	}
	if strings.Contains(s, "*") {
		return "has a wildcard ('*'), which redirect URIs may not have"
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return "is not an absolute URI"
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return "has a fragment ('#'), which redirect URIs may not have"
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
		return ""
	case u.Scheme == "http" && u.Host != "":
		if isLoopback(u.Hostname()) {
			return ""
		}
		return "uses http on a host that is not loopback; http is allowed only for localhost, 127.0.0.1 and [::1], use https"
	case kind == RedirectWeb && public && u.Scheme != "http" && u.Scheme != "https":
		return "" // a native app's own scheme
	}
	if kind == RedirectSPA {
		return "must be https (or http on localhost, 127.0.0.1 or [::1]): a single-page application is a web page"
	}
	return "must be https (or http on localhost, 127.0.0.1 or [::1]); only public clients may register a scheme of their own"
}

func isLoopback(host string) bool {
	return strings.EqualFold(host, "localhost") || host == "127.0.0.1" || host == "::1"
}

// RedirectURI finds the registered redirect URI that given matches: the
// same text, or — for http on a loopback host — the same but for the
// port, which RFC 8252 §7.3 and Entra leave to the app (a local app takes
// whatever port is free). kind says which list matched; ok is false when
// none does.
func (a App) RedirectURI(given string) (kind RedirectKind, ok bool) {
	for _, l := range []struct {
		uris []string
		kind RedirectKind
	}{{a.SPARedirectURIs, RedirectSPA}, {a.RedirectURIs, RedirectWeb}} {
		for _, r := range l.uris {
			if redirectMatches(r, given) {
				return l.kind, true
			}
		}
	}
	return 0, false
}

func redirectMatches(registered, given string) bool {
	if registered == given {
		return true
	}
	r, err1 := url.Parse(registered)
	g, err2 := url.Parse(given)
	if err1 != nil || err2 != nil || r.Scheme != "http" || g.Scheme != "http" || !isLoopback(r.Hostname()) {
		return false
	}
	return strings.EqualFold(r.Hostname(), g.Hostname()) && r.EscapedPath() == g.EscapedPath() &&
		r.RawQuery == g.RawQuery && g.Fragment == "" && g.User == nil && r.User == nil
}

func clipDir(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
