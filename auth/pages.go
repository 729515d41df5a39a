package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/presenced/presenced/internal/guid"
)

// The pages of interactive sign-in: served by the binary, nothing fetched
// from elsewhere, under a Content-Security-Policy that allows only their
// own inline style (and, on the form_post page, its one inline script)
// by hash, no framing (clickjacking) and form posts only to this server
// and the checked redirect URI.

const pageCSS = `:root{color-scheme:light dark;font-family:system-ui,sans-serif}
body{margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center;background:#f3f2f1;color:#201f1e}
main{background:#fff;padding:2rem;max-width:24rem;width:100%;box-sizing:border-box;border-radius:4px;box-shadow:0 2px 6px #0003}
h1{font-size:1.5rem;margin:0 0 .5rem}p{line-height:1.4}
label{display:block;margin-top:1rem;font-weight:600}
input{display:block;width:100%;box-sizing:border-box;font:inherit;padding:.5rem;margin-top:.25rem;border:1px solid #605e5c;border-radius:2px}
input:focus,button:focus{outline:3px solid #0f6cbd;outline-offset:2px}
button{margin-top:1.5rem;font:inherit;padding:.5rem 1.5rem;background:#0f6cbd;color:#fff;border:0;border-radius:2px;cursor:pointer}
.error{color:#a4262c;background:#fde7e9;padding:.5rem;border-left:4px solid #a4262c}
.small{font-size:.875rem;color:#605e5c;word-break:break-word}
@media (prefers-color-scheme:dark){body{background:#1b1a19;color:#f3f2f1}main{background:#292827}.small{color:#c8c6c4}.error{background:#442726;color:#f1bbbc}input{background:#1b1a19;color:#f3f2f1}}`

const formPostScript = `document.forms[0].submit();`

var (
	cssHash    = cspHash(pageCSS)
	scriptHash = cspHash(formPostScript)
)

func cspHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{{.Title}}</title><style>{{.CSS}}</style></head><body><main>{{end}}
{{define "signin"}}{{template "head" .}}
<h1>Sign in</h1>
<p>to <strong>{{.Org}}</strong>, for <strong>{{.App}}</strong>.</p>
{{if .Error}}<p class="error" role="alert" id="err">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}" autocomplete="on">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<label for="login">Email or user name</label>
<input id="login" name="login" type="text" autocomplete="username" required autofocus value="{{.Login}}"{{if .Error}} aria-describedby="err"{{end}}>
<label for="passwd">Password</label>
<input id="passwd" name="passwd" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<p class="small">After you sign in, you go back to {{.RedirectTo}}.</p>
</main></body></html>{{end}}
{{define "error"}}{{template "head" .}}
<h1>Sorry, but we’re having trouble signing you in.</h1>
<p class="error" role="alert">AADSTS{{.Code}}: {{.Error}}</p>
<p class="small">Trace ID: {{.Trace}}</p>
</main></body></html>{{end}}
{{define "signedout"}}{{template "head" .}}
<h1>You signed out</h1>
<p>It is a good idea to close all browser windows.</p>
</main></body></html>{{end}}
{{define "formpost"}}<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Working…</title></head><body>
<form method="post" action="{{.Action}}">{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<noscript><p>Script is disabled. Press Continue to go on.</p><button type="submit">Continue</button></noscript></form>
<script>{{.Script}}</script></body></html>{{end}}
`))

type pageData struct {
	Title, Org, App, Error, Login, Action, RedirectTo, Trace string
	Code                                                     int
	CSS                                                      template.CSS
	Script                                                   template.JS
	Hidden                                                   map[string]string
}

// writePage renders a page under a CSP that allows its inline style (and
// script) by hash and form posts to formTo besides this server.
func writePage(w http.ResponseWriter, status int, name string, d pageData, formTo string) {
	d.CSS = template.CSS(pageCSS)
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, d); err != nil {
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	csp := "default-src 'none'; style-src " + cssHash + "; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
	if formTo != "" {
		csp += " " + formTo
	}
	if name == "formpost" {
		csp += "; script-src " + scriptHash
	}
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "text/html; charset=utf-8")
	noStore(w)
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// origin is the scheme://host of a URI, as a CSP source; "" for a URI a
// CSP cannot name (a native app's own scheme is named by its scheme).
func origin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	if u.Host == "" {
		return u.Scheme + ":"
	}
	return u.Scheme + "://" + u.Host
}

func (i *Issuer) signInPage(w http.ResponseWriter, q *authRequest, login, errMsg string, status int) {
	hidden := map[string]string{}
	for k, v := range q.params() {
		hidden[k] = v[0]
	}
	to := q.redirectURI
	if u, err := url.Parse(to); err == nil && u.Host != "" {
		to = u.Host
	}
	writePage(w, status, "signin", pageData{Title: "Sign in to " + q.tenant.Name, Org: q.tenant.Name, App: q.app.Name, Error: errMsg, Login: login,
		Action: i.base + "/" + q.tenant.ID + "/oauth2/v2.0/authorize", RedirectTo: to, Hidden: hidden}, origin(q.redirectURI))
}

// errorPage answers a fault that cannot go to a redirect URI on a page of
// this server (as Entra does), in the status of the error.
func (i *Issuer) errorPage(w http.ResponseWriter, r *http.Request, e *oauthError) {
	msg := strings.TrimSpace(e.desc)
	writePage(w, e.status, "error", pageData{Title: "Sign in: error", Code: e.code, Error: msg, Trace: guid.New()}, "")
}

func (i *Issuer) signedOutPage(w http.ResponseWriter) {
	writePage(w, http.StatusOK, "signedout", pageData{Title: "Signed out"}, "")
}

// formPostPage posts v to the redirect URI from the browser
// (response_mode=form_post).
func (i *Issuer) formPostPage(w http.ResponseWriter, to string, v url.Values) {
	hidden := map[string]string{}
	for k, x := range v {
		hidden[k] = x[0]
	}
	writePage(w, http.StatusOK, "formpost", pageData{Title: "Working…", Action: to, Hidden: hidden, Script: template.JS(formPostScript)}, origin(to))
}
