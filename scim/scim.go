// Package scim serves SCIM 2.0 (RFC 7643 and 7644) user provisioning at
// /scim/v2, as Microsoft Entra ID's and Okta's provisioning services call
// it: create, read, replace, patch (Entra's and Okta's forms alike) and
// delete Users, filter them by userName, externalId or id, and page
// through them. It is a translation over the directory store: a SCIM User
// is a directory user (userName the userPrincipalName, emails the mail,
// active accountEnabled), and every check is the directory's.
//
// Each request carries a tenant's SCIM bearer token (presenced admin scim
// token add); the token alone says which tenant is provisioned, so the
// same base URL serves every tenant. Groups are not provisioned: presence
// has no use for them (turn group provisioning off in the identity
// provider).
package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/presence"
)

// Prefix is where the SCIM service is mounted.
const Prefix = "/scim/v2"

// Store is the directory store SCIM writes through (dirstore.Store).
type Store interface {
	Directory() *directory.Directory
	User(ctx context.Context, tenant, idOrUPN string) (directory.UserEntry, error)
	CreateUser(ctx context.Context, e directory.UserEntry) (directory.UserEntry, error)
	UpdateUser(ctx context.Context, tenant, idOrUPN string, change func(*directory.UserEntry) error) (directory.UserEntry, error)
	DeleteUser(ctx context.Context, tenant, idOrUPN string) error
}

// Options configure the handler. Store and BaseURL are required.
type Options struct {
	Store Store
	// BaseURL is the server's public URL: resources' meta.location start
	// with it.
	BaseURL string
	// MaxBody bounds a request body (default 128 KiB).
	MaxBody int64
	Logger  *slog.Logger
}

// Handler is the SCIM service.
type Handler struct {
	o       Options
	mux     *http.ServeMux
	cursors cursors
}

// New builds the handler.
func New(o Options) *Handler {
	if o.MaxBody <= 0 {
		o.MaxBody = 128 << 10
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.BaseURL = strings.TrimSuffix(o.BaseURL, "/")
	h := &Handler{o: o, mux: http.NewServeMux()}
	h.mux.HandleFunc(Prefix+"/Users", h.tenant(h.users))
	h.mux.HandleFunc(Prefix+"/Users/{id}", h.tenant(h.user))
	h.mux.HandleFunc(Prefix+"/Groups", h.tenant(h.groups))
	h.mux.HandleFunc(Prefix+"/Groups/{id}", h.tenant(h.groups))
	h.mux.HandleFunc(Prefix+"/ServiceProviderConfig", h.tenant(h.serviceProviderConfig))
	h.mux.HandleFunc(Prefix+"/ResourceTypes", h.tenant(h.resourceTypes))
	h.mux.HandleFunc(Prefix+"/ResourceTypes/{id}", h.tenant(h.resourceType))
	h.mux.HandleFunc(Prefix+"/Schemas", h.tenant(h.schemas))
	h.mux.HandleFunc(Prefix+"/Schemas/{id}", h.tenant(h.schema))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errf(http.StatusNotFound, "", "No SCIM endpoint at %s; presenced serves %s/Users.", clip(r.URL.Path), Prefix))
	})
	return h
}

// ServeHTTP serves /scim/v2/….
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// scimError is an error as SCIM answers it (RFC 7644 §3.12).
type scimError struct {
	status   int
	scimType string
	detail   string
}

func (e *scimError) Error() string { return e.detail }

func errf(status int, scimType, format string, args ...any) *scimError {
	return &scimError{status: status, scimType: scimType, detail: fmt.Sprintf(format, args...)}
}

// asSCIM turns the directory's errors into SCIM's: a duplicate is 409
// uniqueness, bad input 400 invalidValue, a missing user 404.
func asSCIM(err error) *scimError {
	var se *scimError
	if errors.As(err, &se) {
		return se
	}
	var pe *presence.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case presence.Conflict:
			return errf(http.StatusConflict, "uniqueness", "%s", scimWords(pe))
		case presence.Invalid:
			return errf(http.StatusBadRequest, "invalidValue", "%s", scimWords(pe))
		case presence.NotFound:
			return errf(http.StatusNotFound, "", "%s", pe.Message)
		case presence.TooLarge:
			return errf(http.StatusRequestEntityTooLarge, "", "%s", pe.Message)
		case presence.Unavailable:
			return errf(http.StatusServiceUnavailable, "", "%s", pe.Message)
		}
	}
	return errf(http.StatusInternalServerError, "", "The request failed on the server.")
}

// scimWords names SCIM's attributes where the directory names its own.
func scimWords(pe *presence.Error) string {
	r := strings.NewReplacer("userPrincipalName", "userName", "property id", "property id", "accountEnabled", "active")
	return r.Replace(pe.Message)
}

const (
	schemaError        = "urn:ietf:params:scim:api:messages:2.0:Error"
	schemaUser         = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaEnterprise   = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	schemaListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	schemaPatchOp      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	mediaType          = "application/scim+json"
)

func writeError(w http.ResponseWriter, err error) {
	e := asSCIM(err)
	body := map[string]any{"schemas": []string{schemaError}, "status": strconv.Itoa(e.status), "detail": e.detail}
	if e.scimType != "" {
		body["scimType"] = e.scimType
	}
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="presenced SCIM"`)
	}
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"schemas":["`+schemaError+`"],"status":"500","detail":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", mediaType+"; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// tenant authenticates the request's bearer token and passes on its
// tenant. A missing or unknown token is 401, naming no tenant.
func (h *Handler) tenant(next func(w http.ResponseWriter, r *http.Request, t directory.Tenant)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Values("Authorization")
		scheme, tok, _ := strings.Cut(strings.TrimSpace(strings.Join(auth, "")), " ")
		tok = strings.TrimSpace(tok)
		if len(auth) != 1 || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 16<<10 {
			writeError(w, errf(http.StatusUnauthorized, "", "A SCIM request needs 'Authorization: Bearer <token>' with a SCIM token of the tenant (presenced admin scim token add)."))
			return
		}
		t, ok := h.o.Store.Directory().TenantBySCIMToken(directory.SCIMTokenHash(tok))
		if !ok {
			writeError(w, errf(http.StatusUnauthorized, "", "The bearer token is not a SCIM token of this server (it may have been removed)."))
			return
		}
		next(w, r, t)
	}
}

// groups answers every Groups request: presenced keeps no groups.
func (h *Handler) groups(w http.ResponseWriter, r *http.Request, _ directory.Tenant) {
	writeError(w, errf(http.StatusNotImplemented, "", "presenced provisions users only: it keeps no groups. Turn group provisioning off (Entra ID: Provisioning > Mappings > Provision Microsoft Entra ID Groups: No; Okta: no Push Groups)."))
}

func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, errf(http.StatusMethodNotAllowed, "", "The method %s is not supported here; use %s.", clip(r.Method), strings.Join(methods, " or ")))
	return false
}

func clip(s string) string {
	return presence.Clip(s, 100)
}
