package graphapi

import (
	"net/http"
	"strings"
)

// serviceRoot is the URL prefix of @odata.context and Location: the
// server's public URL and the request's API version, as Graph uses
// https://graph.microsoft.com/v1.0, followed by path (built in one
// allocation: it is on every read). It never looks at the request's Host
// header: behind a proxy or a TLS terminator that is the address the proxy
// dialled (or whatever the client chose to send), not the one clients use.
func (a *API) serviceRoot(r *http.Request, path ...string) string {
	root := a.rootV1
	if len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/beta" {
		root = a.rootBeta
	}
	n := len(root)
	for _, p := range path {
		n += len(p)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(root)
	for _, p := range path {
		b.WriteString(p)
	}
	return b.String()
}

// appendServiceRoot is serviceRoot appended to b: a GET of a presence
// builds its @odata.context on the stack (getPresence) rather than in a
// string of its own.
func (a *API) appendServiceRoot(b []byte, r *http.Request, path ...string) []byte {
	root := a.rootV1
	if len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/beta" {
		root = a.rootBeta
	}
	b = append(b, root...)
	for _, p := range path {
		b = append(b, p...)
	}
	return b
}
