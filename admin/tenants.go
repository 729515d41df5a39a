package admin

import (
	"net/http"
	"slices"
	"strings"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/presence"
)

// shownTenant is a tenant as the API shows it: its SCIM tokens by id and
// hint only.
func shownTenant(d *directory.Directory, t directory.Tenant) map[string]any {
	tokens := make([]map[string]any, len(t.SCIMTokens))
	for i, s := range t.SCIMTokens {
		tokens[i] = map[string]any{"id": s.ID, "hint": s.Hint, "displayName": s.DisplayName, "createdDateTime": s.Created}
	}
	return map[string]any{"id": t.ID, "name": t.Name, "domains": t.Domains, "externalAccess": t.ExternalAccess,
		"scimTokens": tokens, "issuers": t.Issuers, "users": d.TenantUserCount(t.ID)}
}

func (h *Handler) listTenants(w http.ResponseWriter, r *http.Request) {
	d := h.store.Directory()
	out := []map[string]any{}
	for _, t := range d.Tenants() {
		out = append(out, shownTenant(d, t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

func (h *Handler) tenantOr404(w http.ResponseWriter, r *http.Request) (directory.Tenant, bool) {
	t, ok := h.store.Directory().Tenant(r.PathValue("tenant"))
	if !ok {
		writeError(w, presence.Errorf(presence.NotFound, "tenant", "Tenant '%s' was not found (give its id or one of its domains).", clip(r.PathValue("tenant"))))
	}
	return t, ok
}

func (h *Handler) showTenant(w http.ResponseWriter, r *http.Request) {
	if t, ok := h.tenantOr404(w, r); ok {
		writeJSON(w, http.StatusOK, shownTenant(h.store.Directory(), t))
	}
}

// tenantBody is what adding or changing a tenant takes.
type tenantBody struct {
	ID             string                    `json:"id"`
	Name           *string                   `json:"name"`
	Domains        []string                  `json:"domains"`
	ExternalAccess *directory.ExternalAccess `json:"externalAccess"`
}

func (h *Handler) addTenant(w http.ResponseWriter, r *http.Request) {
	var b tenantBody
	if err := decode(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	t := directory.Tenant{ID: b.ID, Domains: b.Domains}
	if t.ID == "" {
		t.ID = guid.New()
	}
	if b.Name != nil {
		t.Name = *b.Name
	}
	if b.ExternalAccess != nil {
		t.ExternalAccess = *b.ExternalAccess
	}
	if _, exists := h.store.Directory().Tenant(t.ID); exists {
		writeError(w, presence.Errorf(presence.Conflict, "id", "Tenant %s exists already.", t.ID))
		return
	}
	if err := h.store.PutTenant(r.Context(), t); err != nil {
		writeError(w, err)
		return
	}
	h.showCreatedTenant(w, t.ID)
}

func (h *Handler) showCreatedTenant(w http.ResponseWriter, id string) {
	t, _ := h.store.Directory().Tenant(id)
	writeJSON(w, http.StatusCreated, shownTenant(h.store.Directory(), t))
}

// updateTenant applies change to the tenant the path names and answers
// with the tenant.
func (h *Handler) updateTenant(w http.ResponseWriter, r *http.Request, status int, change func(*directory.Tenant) error) {
	t, ok := h.tenantOr404(w, r)
	if !ok {
		return
	}
	t, err := h.store.UpdateTenant(r.Context(), t.ID, change)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, status, shownTenant(h.store.Directory(), t))
}

func (h *Handler) setTenant(w http.ResponseWriter, r *http.Request) {
	var b tenantBody
	if err := decode(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	if b.ID != "" {
		writeError(w, presence.Errorf(presence.Invalid, "id", "A tenant's id cannot change."))
		return
	}
	h.updateTenant(w, r, http.StatusOK, func(t *directory.Tenant) error {
		if b.Name != nil {
			t.Name = *b.Name
		}
		if b.Domains != nil {
			t.Domains = b.Domains
		}
		if b.ExternalAccess != nil {
			t.ExternalAccess = *b.ExternalAccess
		}
		return nil
	})
}

func (h *Handler) removeTenant(w http.ResponseWriter, r *http.Request) {
	t, ok := h.tenantOr404(w, r)
	if !ok {
		return
	}
	if err := h.store.DeleteTenant(r.Context(), t.ID); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) addDomain(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Domain string `json:"domain"`
	}
	if err := decode(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	h.updateTenant(w, r, http.StatusOK, func(t *directory.Tenant) error {
		t.Domains = append(t.Domains, b.Domain)
		return nil
	})
}

func (h *Handler) removeDomain(w http.ResponseWriter, r *http.Request) {
	dom := r.PathValue("domain")
	h.updateTenant(w, r, http.StatusOK, func(t *directory.Tenant) error {
		i := slices.IndexFunc(t.Domains, func(d string) bool { return strings.EqualFold(d, dom) })
		if i < 0 {
			return presence.Errorf(presence.NotFound, "domain", "Domain %s is not one of the tenant's.", clip(dom))
		}
		if len(t.Domains) == 1 {
			return presence.Errorf(presence.Invalid, "domain", "Domain %s is the tenant's only domain, and a tenant needs at least one verified domain: "+
				"add another first (presenced admin domain add T DOMAIN), or remove the tenant (presenced admin tenant remove T).", clip(dom))
		}
		t.Domains = slices.Delete(t.Domains, i, i+1)
		return nil
	})
}

func (h *Handler) setPolicy(w http.ResponseWriter, r *http.Request) {
	var p directory.ExternalAccess
	if err := decode(w, r, &p); err != nil {
		writeError(w, err)
		return
	}
	h.updateTenant(w, r, http.StatusOK, func(t *directory.Tenant) error {
		t.ExternalAccess = p
		return nil
	})
}

// addSCIMToken makes a SCIM token; its value is in this answer only.
func (h *Handler) addSCIMToken(w http.ResponseWriter, r *http.Request) {
	var b struct {
		DisplayName string `json:"displayName"`
	}
	if err := decode(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	value, sec := directory.NewSCIMToken(h.clock.Now())
	sec.DisplayName = b.DisplayName
	t, ok := h.tenantOr404(w, r)
	if !ok {
		return
	}
	if _, err := h.store.UpdateTenant(r.Context(), t.ID, func(t *directory.Tenant) error {
		t.SCIMTokens = append(t.SCIMTokens, sec)
		return nil
	}); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": sec.ID, "hint": sec.Hint, "displayName": sec.DisplayName, "token": value,
		"note": "The token is shown this once; presenced keeps only its hash."})
}

func (h *Handler) removeSCIMToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	h.updateTenant(w, r, http.StatusOK, func(t *directory.Tenant) error {
		i := slices.IndexFunc(t.SCIMTokens, func(s directory.Secret) bool { return s.ID == id })
		if i < 0 {
			return presence.Errorf(presence.NotFound, "id", "SCIM token %s is not one of the tenant's.", clip(id))
		}
		t.SCIMTokens = slices.Delete(t.SCIMTokens, i, i+1)
		return nil
	})
}

func (h *Handler) addIssuer(w http.ResponseWriter, r *http.Request) {
	var is directory.Issuer
	if err := decode(w, r, &is); err != nil {
		writeError(w, err)
		return
	}
	h.updateTenant(w, r, http.StatusOK, func(t *directory.Tenant) error {
		t.Issuers = append(slices.DeleteFunc(t.Issuers, func(o directory.Issuer) bool { return o.Issuer == is.Issuer }), is)
		return nil
	})
}

func (h *Handler) removeIssuer(w http.ResponseWriter, r *http.Request) {
	iss := r.URL.Query().Get("issuer")
	h.updateTenant(w, r, http.StatusOK, func(t *directory.Tenant) error {
		i := slices.IndexFunc(t.Issuers, func(o directory.Issuer) bool { return o.Issuer == iss })
		if i < 0 {
			return presence.Errorf(presence.NotFound, "issuer", "The tenant trusts no issuer %q.", clip(iss))
		}
		t.Issuers = slices.Delete(t.Issuers, i, i+1)
		return nil
	})
}
