package presence

import (
	"strings"
	"testing"
)

func TestValidateSessionID(t *testing.T) {
	const client = "22553876-f5ab-4529-bffb-cfe50aa89f87"
	ok := []struct{ name, id string }{
		{"§5 the client ID itself", client},
		{"§5 client ID compared case-insensitively (GUIDs)", strings.ToUpper(client)},
		{"§5 client ID and a label", client + ":laptop"},
		{"§5 a label may use letters, digits, '.', '_' and '-'", client + ":Dev_1.phone-2"},
		{"§5 a label of 64 characters", client + ":" + strings.Repeat("a", 64)},
		{"§5 a label of 1 character", client + ":x"},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidateSessionID(tc.id, client); err != nil {
				t.Fatal(err)
			}
		})
	}
	rule := "must be the calling application's client ID (" + client + ") or '" + client + ":<label>' with a label of 1-64 characters [A-Za-z0-9._-]"
	bad := []struct{ name, id string }{
		{"§5 another app's client ID", "11111111-1111-1111-1111-111111111111"},
		{"§5 an empty label", client + ":"},
		{"§5 a label of 65 characters", client + ":" + strings.Repeat("a", 65)},
		{"§5 a label with a space", client + ":my phone"},
		{"§5 a label with a colon", client + ":a:b"},
		{"§5 a label with non-ASCII", client + ":téléphone"},
		{"§5 the client ID with a suffix but no colon", client + "x"},
		{"§5 a prefix of the client ID", client[:10]},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, ValidateSessionID(tc.id, client), Invalid, "sessionId", "sessionId '"+tc.id+"' "+rule)
		})
	}
	t.Run("§5 an empty sessionId is required", func(t *testing.T) {
		wantError(t, ValidateSessionID("", client), Invalid, "sessionId", "sessionId is required", rule)
	})
	t.Run("a token without client ID matches nothing", func(t *testing.T) {
		wantError(t, ValidateSessionID("x", ""), Invalid, "sessionId", "no client ID")
	})
}
