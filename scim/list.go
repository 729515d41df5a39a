package scim

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/presenced/presenced/directory"
)

// Paging: count defaults to 100 and goes to 1,000 (what
// ServiceProviderConfig says).
const (
	defaultCount = 100
	maxCount     = 1000
)

// list serves GET /Users: a filter on userName or id is an index lookup;
// another scans the tenant; no filter pages through it.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	q := r.URL.Query()
	start, count := 1, defaultCount
	if v := q.Get("startIndex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, errf(http.StatusBadRequest, "invalidValue", "startIndex must be an integer."))
			return
		}
		start = max(n, 1) // RFC 7644 §3.4.2.4: less than 1 is 1
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, errf(http.StatusBadRequest, "invalidValue", "count must be an integer."))
			return
		}
		count = min(max(n, 0), maxCount)
	}
	var f filter
	if v := q.Get("filter"); v != "" {
		var err *scimError
		if f, err = parseFilter(v); err != nil {
			writeError(w, err)
			return
		}
	}
	d := h.o.Store.Directory()
	var matched []directory.User // the page, when the filter decides
	total := 0
	switch direct, ok := f.direct(d, t.ID); {
	case ok:
		total = len(direct)
		matched = window(direct, start, count)
	case len(f) > 0:
		var all []directory.User
		var err error
		if all, err = h.scan(r.Context(), d, t.ID, f); err != nil {
			writeError(w, err)
			return
		}
		total = len(all)
		matched = window(all, start, count)
	default:
		total = d.TenantUserCount(t.ID)
		matched = h.page(d, t.ID, start, count)
	}
	resources, err := h.entries(r.Context(), t.ID, matched)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"schemas": []string{schemaListResponse}, "totalResults": total,
		"startIndex": start, "itemsPerPage": len(resources), "Resources": resources})
}

func window(us []directory.User, start, count int) []directory.User {
	if start > len(us) {
		return nil
	}
	us = us[start-1:]
	return us[:min(count, len(us))]
}

// direct resolves a filter on userName or id by the directory's index.
func (f filter) direct(d *directory.Directory, tenant string) ([]directory.User, bool) {
	var key string
	for _, c := range f {
		if c.attr == "username" || c.attr == "id" {
			key = c.value
		}
	}
	if key == "" {
		return nil, false
	}
	u, ok := d.UserInTenant(tenant, key)
	if !ok || !f.matchesView(u) {
		return nil, true
	}
	return []directory.User{u}, true
}

// matchesView checks the clauses the directory's view can answer;
// externalId is checked on the stored entries (entries).
func (f filter) matchesView(u directory.User) bool {
	for _, c := range f {
		switch c.attr {
		case "username":
			if !strings.EqualFold(u.UserPrincipalName, c.value) {
				return false
			}
		case "id":
			if !strings.EqualFold(u.ID, c.value) {
				return false
			}
		case "displayname":
			if !strings.EqualFold(u.DisplayName, c.value) {
				return false
			}
		case "emails":
			if !strings.EqualFold(u.Mail, c.value) {
				return false
			}
		}
	}
	return true
}

// scan finds the tenant's users matching f. An externalId is kept in the
// engine only: a filter on it reads the tenant's pages (an externalId that
// is a GUID is the id first, see users).
func (h *Handler) scan(ctx context.Context, d *directory.Directory, tenant string, f filter) ([]directory.User, error) {
	var ext string
	for _, c := range f {
		if c.attr == "externalid" {
			ext = c.value
		}
	}
	var out []directory.User
	if ext == "" {
		d.ScanUsers(tenant, "", func(u directory.User) bool {
			if f.matchesView(u) {
				out = append(out, u)
			}
			return true
		})
		return out, nil
	}
	if id := strings.ToLower(ext); directory.IsGUID(id) {
		if u, ok := d.UserInTenant(tenant, id); ok && f.matchesView(u) {
			if e, err := h.o.Store.User(ctx, tenant, id); err == nil && e.ExternalID == ext {
				return []directory.User{u}, nil
			}
		}
	}
	for p := range directory.Pages {
		users := d.PageUsers(tenant, p)
		if len(users) == 0 {
			continue
		}
		for _, u := range users {
			if !f.matchesView(u) {
				continue
			}
			e, err := h.o.Store.User(ctx, tenant, u.ID)
			if err != nil {
				continue // gone meanwhile
			}
			if e.ExternalID == ext {
				out = append(out, u)
			}
		}
	}
	return out, nil
}

// page is the tenant's users from the start-th (1-based), count of them,
// in the directory's order. A client paging through (startIndex 1, 101,
// 201, …) resumes from where its last page ended (cursors) rather than
// counting from the first user again.
func (h *Handler) page(d *directory.Directory, tenant string, start, count int) []directory.User {
	if count == 0 {
		return nil
	}
	after, skip := h.cursors.get(tenant, start)
	var out []directory.User
	d.ScanUsers(tenant, after, func(u directory.User) bool {
		if skip > 0 {
			skip--
			return true
		}
		out = append(out, u)
		return len(out) < count
	})
	if len(out) > 0 {
		h.cursors.put(tenant, start+len(out), out[len(out)-1].ID)
	}
	return out
}

// entries reads the stored entries of users (for externalId and names) and
// renders them. A user gone meanwhile is left out.
func (h *Handler) entries(ctx context.Context, tenant string, us []directory.User) ([]map[string]any, error) {
	out := make([]map[string]any, 0, len(us))
	for _, u := range us {
		e, err := h.o.Store.User(ctx, tenant, u.ID)
		if err != nil {
			continue
		}
		out = append(out, h.resource(e))
	}
	return out, nil
}

// cursors remember where recent pages ended: startIndex → the id of the
// user before it, per tenant.
type cursors struct {
	mu sync.Mutex
	m  map[cursorKey]string
}

type cursorKey struct {
	tenant string
	start  int
}

const maxCursors = 256

func (c *cursors) get(tenant string, start int) (after string, skip int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, ok := c.m[cursorKey{tenant, start}]; ok {
		return id, 0
	}
	return "", start - 1
}

func (c *cursors) put(tenant string, start int, after string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCursors {
		c.m = map[cursorKey]string{}
	}
	c.m[cursorKey{tenant, start}] = after
}
