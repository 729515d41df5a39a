package presenced_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// Query options are answered as Graph answers them: a presence read takes
// $select (the context then names the properties); other system query
// options are refused by name; an option OData does not have is refused;
// a parameter without '$' is a custom option and ignored (on /beta the '$'
// is optional); a POST takes no query option.
func TestQueryOptions(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele := e.user("adele")
	users := "/v1.0/users/" + adele + "/presence"
	tests := []struct {
		name, method, path string
		status             int
		keys               []string // of a 200's body
		want               string   // in the body
	}{
		{"$select picks properties", "GET", users + "?$select=availability,activity", 200,
			[]string{"@odata.context", "activity", "availability"}, "/presence(availability,activity)/$entity"},
		{"$select ignores case", "GET", users + "?$select=AVAILABILITY", 200,
			[]string{"@odata.context", "availability"}, "/presence(availability)/$entity"},
		{"$select=* is everything", "GET", users + "?$select=*", 200,
			[]string{"@odata.context", "activity", "availability", "id", "outOfOfficeSettings", "sequenceNumber", "statusMessage", "workLocation"}, "/presence(*)/$entity"},
		{"$select on the communications path", "GET", "/v1.0/communications/presences/" + adele + "?$select=id,workLocation", 200,
			[]string{"@odata.context", "id", "workLocation"}, "#communications/presences(id,workLocation)/$entity"},
		{"an unknown property", "GET", users + "?$select=availability,mood", 400, nil,
			"Could not find a property named 'mood' on type 'microsoft.graph.presence'."},
		{"an empty item", "GET", users + "?$select=availability,", 400, nil, "$select has an empty item"},
		{"$select twice", "GET", users + "?$select=id&$select=activity", 400, nil, "Query option 'Select' was specified more than once"},
		{"$filter is not allowed", "GET", users + "?$filter=availability%20eq%20'Busy'", 400, nil, "Query option 'Filter' is not allowed"},
		{"$expand is not allowed", "GET", users + "?$expand=statusMessage", 400, nil, "Query option 'Expand' is not allowed"},
		{"$format=json", "GET", users + "?$format=json", 200, nil, `"availability"`},
		{"$format=xml", "GET", users + "?$format=xml", 400, nil, "$format 'xml' is not supported"},
		{"an option OData does not have", "GET", users + "?$mood=1", 400, nil, "The query parameter '$mood' is not supported."},
		{"a custom option is ignored", "GET", users + "?mood=1", 200, nil, `"availability"`},
		{"without '$' on v1.0: a custom option", "GET", users + "?select=id", 200,
			[]string{"@odata.context", "activity", "availability", "id", "outOfOfficeSettings", "sequenceNumber", "statusMessage", "workLocation"}, ""},
		{"without '$' on beta: $select", "GET", "/beta/users/" + adele + "/presence?select=id", 200, []string{"@odata.context", "id"}, "/beta/$metadata#users('" + adele + "')/presence(id)/$entity"},
		{"getPresencesByUserId takes none", "POST", "/v1.0/communications/getPresencesByUserId?$select=availability", 400, nil,
			"Query option 'Select' is not allowed: query options apply to GET requests only"},
		{"an action takes none, and writes nothing", "POST", users + "/setPresence?$select=id", 400, nil, "Query option 'Select' is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			switch {
			case strings.Contains(tt.path, "getPresencesByUserId"):
				body = map[string]any{"ids": []string{adele}}
			case strings.Contains(tt.path, "setPresence"):
				body = setBody("Busy", "InACall", "PT1H")
			}
			r := e.call(tt.method, tt.path, app, body)
			if r.status != tt.status || !strings.Contains(string(r.raw), tt.want) {
				t.Fatalf("%d %s, want %d with %q", r.status, r.raw, tt.status, tt.want)
			}
			if tt.status == 400 && (r.errCode() != "BadRequest" || r.header.Get("OData-Version") != "") {
				t.Errorf("error %q, OData-Version %q: want BadRequest and none", r.errCode(), r.header.Get("OData-Version"))
			}
			if tt.status == 200 && r.header.Get("OData-Version") != "4.0" {
				t.Errorf("OData-Version %q", r.header.Get("OData-Version"))
			}
			if tt.keys != nil {
				if got := slices.Sorted(maps.Keys(r.body)); !slices.Equal(got, tt.keys) {
					t.Errorf("properties %v, want %v", got, tt.keys)
				}
			}
		})
	}
	if got := pair(e.get(app, adele)); got != "Offline/Offline" {
		t.Errorf("a refused action wrote: %s", got)
	}
}
