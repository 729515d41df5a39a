package presenced_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// names is the display names of a page of users, sorted: the directory
// lists users in its own order (by page, then id), which is stable but
// not alphabetical.
func names(r resp) []string {
	var out []string
	for _, u := range r.body["value"].([]any) {
		out = append(out, u.(map[string]any)["displayName"].(string))
	}
	slices.Sort(out)
	return out
}

// TestListUsers: GET /v1.0/users lists the caller's tenant, Graph-shaped,
// with $top paging by @odata.nextLink, $filter and $select.
func TestListUsers(t *testing.T) {
	e := start(t)
	tok := e.userToken("adele", "")
	all := e.call("GET", "/v1.0/users", tok, nil)
	if all.status != 200 || !slices.Equal(names(all), []string{"Adele Vance", "Alex Wilber", "Diego Siciliani", "Lynne Robbins", "Megan Bowen"}) ||
		all.str("@odata.context") != e.srv.URL()+"/v1.0/$metadata#users" || all.body["@odata.nextLink"] != nil {
		t.Fatalf("users: %d %s", all.status, all.raw)
	}
	var first map[string]any
	for _, u := range all.body["value"].([]any) {
		if u.(map[string]any)["displayName"] == "Adele Vance" {
			first = u.(map[string]any)
		}
	}
	if first["userPrincipalName"] != "adele@contoso.dev" || first["mail"] != nil || len(first["businessPhones"].([]any)) != 0 || first["id"] != e.user("adele") {
		t.Fatalf("a user: %v", first)
	}

	t.Run("paging", func(t *testing.T) {
		var got []string
		next := "/v1.0/users?$top=2&$select=id,displayName"
		for pages := 0; next != ""; pages++ {
			r := e.call("GET", next, tok, nil)
			if r.status != 200 || pages > 3 || len(r.body["value"].([]any)) > 2 || r.str("@odata.context") != e.srv.URL()+"/v1.0/$metadata#users(id,displayName)" {
				t.Fatalf("page %d: %d %s", pages, r.status, r.raw)
			}
			for _, u := range r.body["value"].([]any) {
				if len(u.(map[string]any)) != 2 {
					t.Fatalf("$select: %v", u)
				}
			}
			got = append(got, names(r)...)
			next = r.str("@odata.nextLink")
			next = strings.TrimPrefix(next, e.srv.URL())
		}
		if slices.Sort(got); !slices.Equal(got, names(all)) {
			t.Fatalf("paged %v", got)
		}
	})
	t.Run("filter", func(t *testing.T) {
		for f, want := range map[string][]string{
			"startswith(displayName,'a')":                                            {"Adele Vance", "Alex Wilber"},
			"startswith(userPrincipalName,'MEG') or startswith(displayName,'Lynne')": {"Lynne Robbins", "Megan Bowen"},
			"userPrincipalName eq 'diego@contoso.dev'":                               {"Diego Siciliani"},
			"startswith(displayName,'nestor')":                                       nil,
		} {
			r := e.call("GET", "/v1.0/users?$filter="+url.QueryEscape(f), tok, nil)
			if r.status != 200 || !slices.Equal(names(r), want) {
				t.Errorf("%s: %d %s", f, r.status, r.raw)
			}
		}
	})
	t.Run("bad input", func(t *testing.T) {
		for q, want := range map[string]string{
			"$filter=" + url.QueryEscape("endswith(displayName,'a')"): "endswith",
			"$filter=" + url.QueryEscape("startswith(jobTitle,'a')"):  "jobTitle",
			"$filter=" + url.QueryEscape("startswith(displayName,'a"): "quoted",
			"$top=0":             "between 1 and 999",
			"$top=1000":          "between 1 and 999",
			"$select=password":   "password",
			"$count=true":        "$count",
			"$skiptoken=garbage": "nextLink",
		} {
			r := e.call("GET", "/v1.0/users?"+q, tok, nil)
			if r.status != 400 || r.errCode() != "invalidRequest" || !strings.Contains(r.errMessage(), want) {
				t.Errorf("%s: %d %s", q, r.status, r.raw)
			}
		}
	})
	t.Run("permissions", func(t *testing.T) {
		if r := e.call("GET", "/v1.0/users", e.userToken("adele", "Presence.Read.All"), nil); r.status != 403 || !strings.Contains(r.errMessage(), "User.ReadBasic.All") {
			t.Errorf("without User.ReadBasic.All: %d %s", r.status, r.raw)
		}
		if r := e.call("GET", "/v1.0/users", e.appToken(), nil); r.status != 403 || !strings.Contains(r.errMessage(), "User.Read.All") {
			t.Errorf("an app without User.Read.All: %d %s", r.status, r.raw)
		}
		if r := e.call("GET", "/v1.0/users", "", nil); r.status != 401 {
			t.Errorf("no token: %d", r.status)
		}
	})
}
