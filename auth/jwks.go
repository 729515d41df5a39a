package auth

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/presenced/presenced/presence"
)

// publishedKeys returns the JSON members of each key of set.
func publishedKeys(set jwk.Set) ([]map[string]any, error) {
	var out []map[string]any
	for n := range set.Len() {
		k, _ := set.Key(n)
		b, err := json.Marshal(k)
		if err != nil {
			return nil, presence.Errorf(presence.Internal, "Key", "auth: encoding the public key: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, presence.Errorf(presence.Internal, "Key", "auth: encoding the public key: %v", err)
		}
		out = append(out, m)
	}
	return out, nil
}

// commonIssuer is the "issuer" of keys served for /common: Entra's
// template, in which a validator puts the token's tid.
const commonIssuer = "{tenantid}"

// serveKeys serves the JWKS of /{tenant}/discovery/v2.0/keys: the signing
// keys with x5c, x5t and the tenant's issuer, as Entra publishes them.
func (i *Issuer) serveKeys(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r, i) {
		return
	}
	tid := commonIssuer
	if !strings.EqualFold(r.PathValue("tenant"), "common") {
		t, e := i.tenant(r, "invalid_tenant")
		if e != nil {
			i.writeError(w, r, e)
			return
		}
		tid = t.ID
	}
	keys := make([]map[string]any, len(i.published))
	for n, k := range i.published {
		keys[n] = maps.Clone(k)
		keys[n]["issuer"] = IssuerURL(i.base, tid)
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}
