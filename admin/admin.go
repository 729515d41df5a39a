// Package admin is the operator's API: what Graph keeps outside /users —
// tenants, their verified domains, external access policies, SCIM tokens
// and trusted issuers, applications with their roles, scopes, secrets and
// redirect URIs — and the import and export of the whole directory. It is
// JSON over HTTP, served by a running server on a Unix socket in its data
// directory (only who may open that directory may use it) and, with no
// server running, in-process by `presenced admin` over the engine opened
// offline. Every change goes through the directory store, as Graph's and
// SCIM's do.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/dirstore"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/presence"
)

// Prefix is where the API is mounted.
const Prefix = "/admin/v1"

// MaxImport bounds an import's body: a directory file.
const MaxImport = directory.MaxFileSize

// maxBody bounds every other request body.
const maxBody = 1 << 20

// Handler serves the API over a store.
type Handler struct {
	store *dirstore.Store
	clock clock.Clock
	mux   *http.ServeMux
}

// New builds the handler.
func New(store *dirstore.Store, clk clock.Clock) *Handler {
	if clk == nil {
		clk = clock.Real{}
	}
	h := &Handler{store: store, clock: clk, mux: http.NewServeMux()}
	m := h.mux
	m.HandleFunc("GET "+Prefix+"/directory", h.export)
	m.HandleFunc("PUT "+Prefix+"/directory", h.importFile)
	m.HandleFunc("GET "+Prefix+"/tenants", h.listTenants)
	m.HandleFunc("POST "+Prefix+"/tenants", h.addTenant)
	m.HandleFunc("GET "+Prefix+"/tenants/{tenant}", h.showTenant)
	m.HandleFunc("PATCH "+Prefix+"/tenants/{tenant}", h.setTenant)
	m.HandleFunc("DELETE "+Prefix+"/tenants/{tenant}", h.removeTenant)
	m.HandleFunc("POST "+Prefix+"/tenants/{tenant}/domains", h.addDomain)
	m.HandleFunc("DELETE "+Prefix+"/tenants/{tenant}/domains/{domain}", h.removeDomain)
	m.HandleFunc("PUT "+Prefix+"/tenants/{tenant}/externalAccess", h.setPolicy)
	m.HandleFunc("POST "+Prefix+"/tenants/{tenant}/scimTokens", h.addSCIMToken)
	m.HandleFunc("DELETE "+Prefix+"/tenants/{tenant}/scimTokens/{id}", h.removeSCIMToken)
	m.HandleFunc("POST "+Prefix+"/tenants/{tenant}/issuers", h.addIssuer)
	m.HandleFunc("DELETE "+Prefix+"/tenants/{tenant}/issuers", h.removeIssuer)
	m.HandleFunc("GET "+Prefix+"/applications", h.listApps)
	m.HandleFunc("POST "+Prefix+"/applications", h.addApp)
	m.HandleFunc("GET "+Prefix+"/applications/{app}", h.showApp)
	m.HandleFunc("PATCH "+Prefix+"/applications/{app}", h.setApp)
	m.HandleFunc("DELETE "+Prefix+"/applications/{app}", h.removeApp)
	m.HandleFunc("POST "+Prefix+"/applications/{app}/secrets", h.addSecret)
	m.HandleFunc("DELETE "+Prefix+"/applications/{app}/secrets/{id}", h.removeSecret)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, presence.Errorf(presence.NotFound, "", "No admin endpoint %s %s.", r.Method, clip(r.URL.Path)))
	})
	return h
}

// ServeHTTP serves the API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Error is the API's error body: {"error": {"code", "message", "field"}}.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

var statusOf = map[presence.Code]int{
	presence.Invalid: http.StatusBadRequest, presence.NotFound: http.StatusNotFound, presence.Conflict: http.StatusConflict,
	presence.TooLarge: http.StatusRequestEntityTooLarge, presence.Unavailable: http.StatusServiceUnavailable,
}

func writeError(w http.ResponseWriter, err error) {
	status, e := http.StatusInternalServerError, Error{Code: "internal", Message: err.Error()}
	var pe *presence.Error
	if errors.As(err, &pe) {
		e = Error{Code: string(pe.Code), Message: pe.Message, Field: pe.Field}
		if s, ok := statusOf[pe.Code]; ok {
			status = s
		}
	} else if errors.Is(err, dirstore.ErrChangedSinceImport) {
		status, e = http.StatusConflict, Error{Code: "conflict", Message: err.Error()}
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encoding the answer failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// decode reads a JSON body strictly into v.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return presence.Errorf(presence.TooLarge, "", "The request body is larger than %d bytes.", maxBody)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return presence.Errorf(presence.Invalid, "", "The request body: %s.", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return presence.Errorf(presence.Invalid, "", "The request body has data after its JSON object.")
	}
	return nil
}

func clip(s string) string {
	if len(s) > 100 {
		return s[:97] + "..."
	}
	return s
}

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

func (h *Handler) export(w http.ResponseWriter, r *http.Request) {
	f, err := h.store.Export(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// importFile replaces the whole directory (the body is a directory file;
// ?name= says where it came from, for the record).
func (h *Handler) importFile(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxImport))
	if err != nil {
		writeError(w, presence.Errorf(presence.TooLarge, "", "The directory file is larger than %d bytes.", MaxImport))
		return
	}
	f, err := directory.Parse(b)
	if err != nil {
		writeError(w, err)
		return
	}
	src := &dirstore.Source{Kind: "import", Name: r.URL.Query().Get("name"), SHA256: dirstore.Hash(b)}
	if err := h.store.Import(r.Context(), f, src); err != nil {
		writeError(w, err)
		return
	}
	d := h.store.Directory()
	writeJSON(w, http.StatusOK, map[string]any{"tenants": len(d.Tenants()), "users": d.UserCount(), "applications": len(d.Apps())})
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

// Client calls the API: over a running server's socket, or in-process.
type Client struct {
	HTTP *http.Client
	// Base is the URL the paths are appended to ("http://admin" over a
	// socket).
	Base string
}

// Do sends a request with a JSON body (nil: none, []byte: as is) and
// decodes the answer into out (nil: discarded). An error answer is an
// error with its message.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = strings.NewReader(string(b))
	case io.Reader:
		rd = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(j))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+Prefix+path, rd)
	if err != nil {
		return err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error Error `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s", e.Error.Message)
		}
		return fmt.Errorf("%s: %s", resp.Status, clip(string(raw)))
	}
	switch o := out.(type) {
	case nil:
	case *[]byte:
		*o = raw
	default:
		if len(raw) > 0 {
			return json.Unmarshal(raw, out)
		}
	}
	return nil
}
