package graphapi

import "net/http"

// serviceRoot is the URL prefix of @odata.context: this server's own
// address and API version, as Graph uses https://graph.microsoft.com/v1.0.
func serviceRoot(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	version := "v1.0"
	if len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/beta" {
		version = "beta"
	}
	return scheme + "://" + r.Host + "/" + version
}
