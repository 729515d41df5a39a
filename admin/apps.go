package admin

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/presence"
)

// shownApp is an application as the API shows it: secrets by id and hint.
func shownApp(a directory.App) map[string]any {
	secrets := make([]map[string]any, len(a.Secrets))
	for i, s := range a.Secrets {
		sec := map[string]any{"id": s.ID, "hint": s.Hint, "displayName": s.DisplayName, "createdDateTime": s.Created}
		if !s.Expires.IsZero() {
			sec["endDateTime"] = s.Expires
		}
		secrets[i] = sec
	}
	return map[string]any{"clientId": a.ClientID, "tenantId": a.TenantID, "name": a.Name, "roles": orEmpty(a.Roles), "scopes": orEmpty(a.Scopes),
		"public": a.Public, "redirectUris": orEmpty(a.RedirectURIs), "spaRedirectUris": orEmpty(a.SPARedirectURIs), "secrets": secrets,
		"servicePrincipalId": a.ServicePrincipalID()}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (h *Handler) listApps(w http.ResponseWriter, r *http.Request) {
	tenant := r.URL.Query().Get("tenant")
	var tid string
	if tenant != "" {
		t, ok := h.store.Directory().Tenant(tenant)
		if !ok {
			writeError(w, presence.Errorf(presence.NotFound, "tenant", "Tenant '%s' was not found.", clip(tenant)))
			return
		}
		tid = t.ID
	}
	out := []map[string]any{}
	for _, a := range h.store.Directory().Apps() {
		if tid == "" || a.TenantID == tid {
			out = append(out, shownApp(a))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

func (h *Handler) appOr404(w http.ResponseWriter, r *http.Request) (directory.App, bool) {
	a, ok := h.store.Directory().App(r.PathValue("app"))
	if !ok {
		writeError(w, presence.Errorf(presence.NotFound, "clientId", "Application '%s' was not found.", clip(r.PathValue("app"))))
	}
	return a, ok
}

func (h *Handler) showApp(w http.ResponseWriter, r *http.Request) {
	if a, ok := h.appOr404(w, r); ok {
		writeJSON(w, http.StatusOK, shownApp(a))
	}
}

// appBody is what adding or changing an application takes.
type appBody struct {
	ClientID        string    `json:"clientId"`
	TenantID        string    `json:"tenantId"`
	Name            *string   `json:"name"`
	Roles           *[]string `json:"roles"`
	Scopes          *[]string `json:"scopes"`
	Public          *bool     `json:"public"`
	RedirectURIs    *[]string `json:"redirectUris"`
	SPARedirectURIs *[]string `json:"spaRedirectUris"`
}

func (b appBody) apply(a *directory.App) {
	if b.Name != nil {
		a.Name = *b.Name
	}
	if b.Roles != nil {
		a.Roles = *b.Roles
	}
	if b.Scopes != nil {
		a.Scopes = *b.Scopes
	}
	if b.Public != nil {
		a.Public = *b.Public
	}
	if b.RedirectURIs != nil {
		a.RedirectURIs = *b.RedirectURIs
	}
	if b.SPARedirectURIs != nil {
		a.SPARedirectURIs = *b.SPARedirectURIs
	}
}

// addApp registers an application. A confidential one gets a first client
// secret, whose value is in this answer only.
func (h *Handler) addApp(w http.ResponseWriter, r *http.Request) {
	var b appBody
	if err := decode(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	t, ok := h.store.Directory().Tenant(b.TenantID)
	if b.TenantID == "" || !ok {
		writeError(w, presence.Errorf(presence.Invalid, "tenantId", "tenantId '%s' is not a tenant of the directory (give its id or one of its domains).", clip(b.TenantID)))
		return
	}
	a := directory.App{ClientID: strings.ToLower(b.ClientID), TenantID: t.ID}
	if a.ClientID == "" {
		a.ClientID = guid.New()
	}
	b.apply(&a)
	if _, exists := h.store.Directory().App(a.ClientID); exists {
		writeError(w, presence.Errorf(presence.Conflict, "clientId", "Application %s exists already.", a.ClientID))
		return
	}
	secret := ""
	if !a.Public {
		secret = directory.GenerateSecret()
		a.Secret = secret
	}
	a, err := h.store.PutApp(r.Context(), a)
	if err != nil {
		writeError(w, err)
		return
	}
	out := shownApp(a)
	if secret != "" {
		out["secret"] = secret
		out["note"] = "The client secret is shown this once; presenced keeps only its hash."
	}
	writeJSON(w, http.StatusCreated, out)
}

func (h *Handler) setApp(w http.ResponseWriter, r *http.Request) {
	var b appBody
	if err := decode(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	a, ok := h.appOr404(w, r)
	if !ok {
		return
	}
	if b.ClientID != "" || b.TenantID != "" {
		writeError(w, presence.Errorf(presence.Invalid, "clientId", "An application's clientId and tenantId cannot change."))
		return
	}
	a, err := h.store.UpdateApp(r.Context(), a.ClientID, func(a *directory.App) error { b.apply(a); return nil })
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, shownApp(a))
}

func (h *Handler) removeApp(w http.ResponseWriter, r *http.Request) {
	a, ok := h.appOr404(w, r)
	if !ok {
		return
	}
	if err := h.store.DeleteApp(r.Context(), a.ClientID); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// addSecret makes a client secret (Entra's "certificates & secrets"): its
// value is in this answer only.
func (h *Handler) addSecret(w http.ResponseWriter, r *http.Request) {
	var b struct {
		DisplayName string    `json:"displayName"`
		EndDateTime time.Time `json:"endDateTime"`
	}
	if err := decode(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	a, ok := h.appOr404(w, r)
	if !ok {
		return
	}
	value := directory.GenerateSecret()
	sec, err := directory.NewSecret(r.Context(), value, h.clock.Now())
	if err != nil {
		writeError(w, err)
		return
	}
	sec.DisplayName, sec.Expires = b.DisplayName, b.EndDateTime
	if !sec.Expires.IsZero() && !sec.Expires.After(h.clock.Now()) {
		writeError(w, presence.Errorf(presence.Invalid, "endDateTime", "endDateTime %s is not in the future.", sec.Expires.Format(time.RFC3339)))
		return
	}
	if _, err := h.store.UpdateApp(r.Context(), a.ClientID, func(a *directory.App) error {
		a.Secrets = append(a.Secrets, sec)
		return nil
	}); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": sec.ID, "hint": sec.Hint, "displayName": sec.DisplayName, "secret": value,
		"note": "The client secret is shown this once; presenced keeps only its hash."})
}

func (h *Handler) removeSecret(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a, ok := h.appOr404(w, r)
	if !ok {
		return
	}
	a, err := h.store.UpdateApp(r.Context(), a.ClientID, func(a *directory.App) error {
		i := slices.IndexFunc(a.Secrets, func(s directory.Secret) bool { return s.ID == id })
		if i < 0 {
			return presence.Errorf(presence.NotFound, "id", "Secret %s is not one of the application's.", clip(id))
		}
		a.Secrets = slices.Delete(a.Secrets, i, i+1)
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, shownApp(a))
}
