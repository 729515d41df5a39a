package graphapi

import (
	"net/http"
	"strings"
)

// serviceRoot is the URL prefix of @odata.context: this server's own
// address and API version, as Graph uses https://graph.microsoft.com/v1.0,
// followed by path (built in one allocation: it is on every read).
func serviceRoot(r *http.Request, path ...string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	version := "v1.0"
	if len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/beta" {
		version = "beta"
	}
	n := len(scheme) + len("://") + len(r.Host) + len("/") + len(version)
	for _, p := range path {
		n += len(p)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(r.Host)
	b.WriteString("/")
	b.WriteString(version)
	for _, p := range path {
		b.WriteString(p)
	}
	return b.String()
}
