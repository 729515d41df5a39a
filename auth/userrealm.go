package auth

import (
	"net/http"
	"strings"
)

// serveUserRealm answers GET /common/UserRealm/{username}?api-version=1.0,
// which MSAL — and so azidentity's UsernamePasswordCredential, Microsoft's
// documented username/password provider for the Graph SDKs — asks before
// the password grant, to learn whether the account is managed (its
// password goes to the token endpoint) or federated (to an ADFS). Every
// account here is managed. The answer is Entra's shape for a managed
// domain, and the same whoever is asked about: it says nothing of whether
// the user or the domain exists (the password grant says that, as
// Entra's does).
func (i *Issuer) serveUserRealm(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r, i) {
		return
	}
	user := r.PathValue("user")
	domain := user
	if at := strings.LastIndexByte(user, '@'); at >= 0 {
		domain = user[at+1:]
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"ver":                 "1.0",
		"account_type":        "Managed",
		"domain_name":         clipString(domain, 256),
		"cloud_instance_name": "microsoftonline.com",
		"cloud_audience_urn":  "urn:federation:MicrosoftOnline",
	})
}
