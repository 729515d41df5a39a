package scim

import (
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/bodyenc"
	"github.com/presenced/presenced/presence"
)

// readBody reads a JSON request body within the limit, decompressing a
// gzip body as the Graph API does: the limit is on the body after
// decompression, so a small compressed body cannot expand without bound.
// It was read as it came: a gzip body was "not a JSON object" here while
// Graph's routes took it, and a body cut off by the read timeout was 400.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *scimError) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != mediaType && mt != "application/json" {
			return nil, errf(http.StatusUnsupportedMediaType, "", "The request body must be %s or application/json, not %q.", mediaType, clip(ct))
		}
	}
	src, gz, err := bodyenc.Reader(r)
	var unsupported *bodyenc.UnsupportedError
	switch {
	case errors.As(err, &unsupported):
		return nil, errf(http.StatusUnsupportedMediaType, "", "Content-Encoding %q is not supported; send the body uncompressed or with gzip.", clip(unsupported.Encoding))
	case err != nil:
		return nil, errf(http.StatusBadRequest, "invalidSyntax", "The request body says Content-Encoding gzip but is not gzip data.")
	case gz != nil:
		defer gz.Close()
	}
	b, err := io.ReadAll(io.LimitReader(src, h.o.MaxBody+1))
	var ne net.Error
	switch {
	case int64(len(b)) > h.o.MaxBody:
		return nil, errf(http.StatusRequestEntityTooLarge, "", "The request body is larger than %d bytes (after decompression).", h.o.MaxBody)
	case errors.As(err, &ne) && ne.Timeout():
		return nil, errf(http.StatusRequestTimeout, "", "The request body did not arrive within the server's read timeout; send the whole request at once.")
	case err != nil:
		return nil, errf(http.StatusBadRequest, "invalidSyntax", "Reading the request body failed.")
	case len(b) == 0:
		return nil, errf(http.StatusBadRequest, "invalidSyntax", "The request body is empty; it must be a JSON object.")
	}
	return b, nil
}

// users serves /Users: GET lists (and filters), POST creates.
func (h *Handler) users(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	if !allow(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	if r.Method == http.MethodGet {
		h.list(w, r, t)
		return
	}
	body, err := h.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	e := directory.UserEntry{TenantID: t.ID}
	if err := fromBody(body, &e); err != nil {
		writeError(w, err)
		return
	}
	// An externalId that is a GUID becomes the id (map Entra ID's
	// objectId to externalId and presenced's ids are Entra's object ids,
	// which tokens and Graph clients name users by).
	if id := strings.ToLower(e.ExternalID); directory.IsGUID(id) {
		if _, taken := h.o.Store.Directory().User(id); !taken {
			e.ID = id
		}
	}
	created, cerr := h.o.Store.CreateUser(r.Context(), e)
	if cerr != nil {
		writeError(w, cerr)
		return
	}
	w.Header().Set("Location", h.location(created.ID))
	writeJSON(w, http.StatusCreated, h.resource(created))
}

// user serves /Users/{id}: GET, PUT, PATCH, DELETE.
func (h *Handler) user(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	if !allow(w, r, http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete) {
		return
	}
	id := strings.ToLower(r.PathValue("id"))
	if _, ok := h.o.Store.Directory().UserInTenant(t.ID, id); !ok || !directory.IsGUID(id) {
		writeError(w, errf(http.StatusNotFound, "", "Resource %s not found.", clip(r.PathValue("id"))))
		return
	}
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		e, err := h.o.Store.User(ctx, t.ID, id)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, h.resource(e))
	case http.MethodDelete:
		if err := h.o.Store.DeleteUser(ctx, t.ID, id); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		body, err := h.readBody(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		change := func(e *directory.UserEntry) error {
			var se *scimError
			if r.Method == http.MethodPut {
				se = fromBody(body, e)
			} else {
				se = patch(body, e)
			}
			if se != nil {
				return se
			}
			if e.UserPrincipalName == "" {
				return presence.Errorf(presence.Invalid, "userName", "userName is required.")
			}
			return nil
		}
		e, uerr := h.o.Store.UpdateUser(ctx, t.ID, id, change)
		if uerr != nil {
			writeError(w, uerr)
			return
		}
		writeJSON(w, http.StatusOK, h.resource(e))
	}
}
