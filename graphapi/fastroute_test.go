package graphapi

import (
	"net/http/httptest"
	"testing"
)

// TestPresencePath: which paths presencePath serves without the mux, with
// the pattern and id the mux would give them; every other path is the
// mux's (redirects of unclean paths, escaped ids, other routes).
func TestPresencePath(t *testing.T) {
	for _, c := range []struct {
		target, pattern, id string
	}{
		{"/v1.0/users/3c16299b-70fb-4ef1-ac29-a2c2738ae1e3/presence", presencePatternV1, "3c16299b-70fb-4ef1-ac29-a2c2738ae1e3"},
		{"/beta/users/Adele.V_x-1@contoso.dev/presence", presencePatternBeta, "Adele.V_x-1@contoso.dev"},
		{"/v1.0/users/a/presence?$select=activity", presencePatternV1, "a"},
		{"/v1.0/users/%61/presence", "", ""},   // escaped: the mux
		{"/v1.0/users/a%2Fb/presence", "", ""}, // an escaped slash
		{"/v1.0/users//presence", "", ""},      // unclean: the mux redirects
		{"/v1.0/users/./presence", "", ""},     // likewise
		{"/v1.0/users/../presence", "", ""},    // likewise
		{"/v1.0/users/a/b/presence", "", ""},   // two segments
		{"/v1.0/users/a/presence/", "", ""},    // a trailing slash
		{"/v1.0/users/a/presence/setPresence", "", ""},
		{"/v1.0/users/o'brien@contoso.dev/presence", "", ""}, // a character left to the mux
		{"/v1.0/users/a+b@contoso.dev/presence", "", ""},
		{"/v1.0/me/presence", "", ""},
		{"/v1.0/communications/presences/a", "", ""},
		{"/v2.0/users/a/presence", "", ""},
	} {
		pattern, id, ok := presencePath(httptest.NewRequest("GET", c.target, nil))
		if ok != (c.pattern != "") || pattern != c.pattern || id != c.id {
			t.Errorf("%s: %q %q %v, want %q %q", c.target, pattern, id, ok, c.pattern, c.id)
		}
	}
}

// TestActionPath: which paths actionPath serves without the mux, with the
// pattern, id and action the mux would give them.
func TestActionPath(t *testing.T) {
	const g = "3c16299b-70fb-4ef1-ac29-a2c2738ae1e3"
	for _, c := range []struct {
		target, pattern, id, action string
	}{
		{"/v1.0/users/" + g + "/presence/setPresence", actionPatternV1, g, "setPresence"},
		{"/beta/users/Adele.V_x-1@contoso.dev/presence/setUserPreferredPresence", actionPatternBeta, "Adele.V_x-1@contoso.dev", "setUserPreferredPresence"},
		{"/v1.0/users/a/presence/clearPresence?x=1", actionPatternV1, "a", "clearPresence"},
		{"/v1.0/users/a/presence/nosuchaction", "", "", ""}, // the mux's handler answers it
		{"/v1.0/users/a/presence/setPresence/", "", "", ""},
		{"/v1.0/users/a/presence/presence/setPresence", "", "", ""},
		{"/v1.0/users/%61/presence/setPresence", "", "", ""},
		{"/v1.0/users/a%2Fb/presence/setPresence", "", "", ""},
		{"/v1.0/users//presence/setPresence", "", "", ""},
		{"/v1.0/users/./presence/setPresence", "", "", ""},
		{"/v1.0/users/../presence/setPresence", "", "", ""},
		{"/v1.0/users/a/b/presence/setPresence", "", "", ""},
		{"/v1.0/users/o'brien@contoso.dev/presence/setPresence", "", "", ""},
		{"/v1.0/me/presence/setPresence", "", "", ""},
		{"/v1.0/communications/presences/a/setPresence", "", "", ""},
		{"/v1.0/users/a/presence", "", "", ""},
		{"/v2.0/users/a/presence/setPresence", "", "", ""},
	} {
		pattern, id, action, spec, ok := actionPath(httptest.NewRequest("POST", c.target, nil))
		if want, known := actions[action]; ok && (!known || spec.op != want.op || spec.status != want.status) {
			t.Errorf("%s: spec %+v, want the action's %+v", c.target, spec, want)
		}
		if ok != (c.pattern != "") || pattern != c.pattern || id != c.id || action != c.action {
			t.Errorf("%s: %q %q %q %v, want %q %q %q", c.target, pattern, id, action, ok, c.pattern, c.id, c.action)
		}
	}
}
