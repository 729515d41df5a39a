package graphapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/presence"
)

// GET /users: the users of the caller's tenant, shaped as Graph's user
// collection, with $top, $select, $filter and paging by @odata.nextLink.
// The board lists users with it; usersedit.go has the rest of Graph's
// user administration (one user, create, change, delete).

// Paging limits: Graph's default page of users is 100 and $top goes to
// 999. A page scans at most maxUserScan users of the directory, so that a
// filter matching few users of a million costs a bounded request; a page
// that stops there has fewer users and a nextLink (Graph's pages may be
// short too).
const (
	defaultUserTop = 100
	maxUserTop     = 999
	maxUserScan    = 100_000
)

// userProps are the user properties presenced answers by default: Graph's
// default set. Those the directory does not keep are null (businessPhones
// empty). selectable adds what only $select names, as in Graph.
var (
	userProps  = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}
	selectable = append(slices.Clone(userProps), "accountEnabled")
)

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	p, err := a.principal(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := auth.Authorize(p, auth.ListUsers, "", false); err != nil {
		a.writeError(w, r, err)
		return
	}
	q, err := parseUsersQuery(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	type row = map[string]any
	out := struct {
		Context  string `json:"@odata.context"`
		NextLink string `json:"@odata.nextLink,omitempty"`
		Value    []row  `json:"value"`
	}{Value: []row{}}
	last, more, scanned := q.after, false, 0
	if q.filter.lookups() {
		// One page: each user named, in the order named, at most once.
		seen := map[string]bool{}
		for _, c := range q.filter {
			if u, ok := a.dir.UserInTenant(p.TenantID, c.value); ok && !seen[u.ID] && q.filter.matches(u) && c.matches(u) {
				seen[u.ID] = true
				out.Value = append(out.Value, userRow(u, q.sel))
			}
		}
		out.Context = a.serviceRoot(r, usersContext(q.sel))
		writeJSON(w, http.StatusOK, out)
		return
	}
	a.dir.ScanUsers(p.TenantID, q.after, func(u directory.User) bool {
		if len(out.Value) == q.top || scanned == maxUserScan {
			more = true
			return false
		}
		scanned++
		last = u.ID
		if q.filter.matches(u) {
			out.Value = append(out.Value, userRow(u, q.sel))
		}
		return true
	})
	out.Context = a.serviceRoot(r, usersContext(q.sel))
	if more {
		v := r.URL.Query()
		v.Del("$skiptoken")
		v.Set("$skiptoken", skipToken(last))
		out.NextLink = a.serviceRoot(r, "/users?"+v.Encode())
	}
	writeJSON(w, http.StatusOK, out)
}

// usersContext is the @odata.context path of a user collection.
func usersContext(sel []string) string {
	ctx := "/$metadata#users"
	if len(sel) > 0 {
		ctx += "(" + strings.Join(sel, ",") + ")"
	}
	return ctx
}

func userRow(u directory.User, sel []string) map[string]any {
	props := sel
	if len(props) == 0 {
		props = userProps
	}
	m := make(map[string]any, len(props))
	for _, k := range props {
		switch k {
		case "id":
			m[k] = u.ID
		case "displayName":
			m[k] = u.DisplayName
		case "userPrincipalName":
			m[k] = u.UserPrincipalName
		case "mail":
			if u.Mail != "" {
				m[k] = u.Mail
			} else {
				m[k] = nil
			}
		case "accountEnabled":
			m[k] = u.AccountEnabled
		case "businessPhones":
			m[k] = []string{}
		default:
			m[k] = nil
		}
	}
	return m
}

type usersQuery struct {
	top    int
	after  string // the id of the last user the previous page passed
	sel    []string
	filter userFilter
}

func parseUsersQuery(r *http.Request) (usersQuery, error) {
	q := usersQuery{top: defaultUserTop}
	vals := r.URL.Query()
	for k, v := range vals {
		if len(v) > 1 {
			return q, presence.Errorf(presence.Invalid, k, "Query option '%s' was specified more than once; it must be specified at most once.", clip(k))
		}
		switch k {
		case "$top", "$select", "$filter", "$skiptoken":
		case "$count", "$search", "$orderby", "$expand", "$skip":
			return q, presence.Errorf(presence.Invalid, k, "Query option '%s' is not supported on users by presenced; use $top, $select, $filter (startswith or eq, joined by or) and the @odata.nextLink of each page.", k)
		default:
			if strings.HasPrefix(k, "$") {
				return q, presence.Errorf(presence.Invalid, k, "Query option '%s' is not supported.", clip(k))
			}
		}
	}
	if s, ok := vals["$top"]; ok {
		n, err := strconv.Atoi(s[0])
		if err != nil || n < 1 || n > maxUserTop {
			return q, presence.Errorf(presence.Invalid, "$top", "Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", clip(s[0]), maxUserTop)
		}
		q.top = n
	}
	if s := vals.Get("$select"); s != "" {
		sel, err := parseUserSelect(s)
		if err != nil {
			return q, err
		}
		q.sel = sel
	}
	if s, ok := vals["$filter"]; ok {
		f, err := parseUserFilter(s[0])
		if err != nil {
			return q, err
		}
		q.filter = f
	}
	if s, ok := vals["$skiptoken"]; ok {
		id, ok := parseSkipToken(s[0])
		if !ok {
			return q, presence.Errorf(presence.Invalid, "$skiptoken", "The $skiptoken is not one this server wrote: follow @odata.nextLink as it is.")
		}
		q.after = id
	}
	return q, nil
}

// parseUserSelect reads a $select of user properties.
func parseUserSelect(s string) ([]string, error) {
	var sel []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		k := slices.IndexFunc(selectable, func(p string) bool { return strings.EqualFold(p, f) })
		if k < 0 {
			return nil, presence.Errorf(presence.Invalid, "$select", "Could not find a property named '%s' on type 'microsoft.graph.user'. presenced knows %s.", clip(f), strings.Join(selectable, ", "))
		}
		if !slices.Contains(sel, selectable[k]) {
			sel = append(sel, selectable[k])
		}
	}
	return sel, nil
}

// A skip token is the id of the last user a page passed, opaque to
// clients: the next page starts after it, in the directory's order
// (directory.ScanUsers), which users coming and going do not change. A
// user added or removed between two pages is in them or not, as Graph's
// paging without a consistency level.
func skipToken(after string) string {
	b, _ := json.Marshal([]any{2, after})
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseSkipToken(s string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var v []any
	if err != nil || json.Unmarshal(b, &v) != nil || len(v) != 2 || v[0] != float64(2) {
		return "", false
	}
	id, ok := v[1].(string)
	return id, ok && directory.IsGUID(id)
}
