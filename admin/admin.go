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
	"strings"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/dirstore"
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
	return presence.Clip(s, 100)
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
	// Decoded as it arrives: no buffer of the body's size, whatever its
	// Content-Length says (directory.Decode stops past MaxImport).
	f, sha, err := dirstore.Decode(r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	src := &dirstore.Source{Kind: "import", Name: r.URL.Query().Get("name"), SHA256: sha}
	if err := h.store.Import(r.Context(), f, src); err != nil {
		writeError(w, err)
		return
	}
	d := h.store.Directory()
	writeJSON(w, http.StatusOK, map[string]any{"tenants": len(d.Tenants()), "users": d.UserCount(), "applications": len(d.Apps())})
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
