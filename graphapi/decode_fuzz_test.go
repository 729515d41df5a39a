package graphapi

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/presence"
)

const fuzzClient = "6dcddc99-5a7f-430c-a555-551d652a37b1"

func fuzzRequest(body []byte) *http.Request {
	r := httptest.NewRequest("POST", "/v1.0/me/presence/x", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// checkDecodeErr fails unless err is one of the typed errors the API renders:
// a decoder must never fail with a foreign error (that would be a 500).
func checkDecodeErr(t *testing.T, err error) {
	var pe *presence.Error
	var he *httpError
	if err != nil && !errors.As(err, &pe) && !errors.As(err, &he) {
		t.Fatalf("untyped error %T: %v", err, err)
	}
	if pe != nil && (pe.Code != presence.Invalid && pe.Code != presence.TooLarge && pe.Code != presence.Unsupported) {
		t.Fatalf("decoder error with code %s: %v", pe.Code, err)
	}
}

// FuzzDecodeActions feeds arbitrary bodies to every action decoder: no
// panic, only typed 4xx errors, and whatever decodes validates or is
// rejected with a typed error.
func FuzzDecodeActions(f *testing.F) {
	seeds := []string{
		`{"sessionId":"` + fuzzClient + `","availability":"Available","activity":"Available","expirationDuration":"PT1H"}`,
		`{"sessionId":"` + fuzzClient + `:phone"}`,
		`{"availability":"Busy","activity":"Busy","expirationDuration":"P1D"}`,
		`{}`, ``, `null`, `[]`, `{"a@odata.type":"x"}`,
		`{"statusMessage":{"message":{"content":"hi","contentType":"text"},"expiryDateTime":{"dateTime":"2026-12-01T10:00:00","timeZone":"Pacific Standard Time"}}}`,
		`{"statusMessage":{"message":null}}`, `{"ids":["a@b.c","x"]}`, `{"sessionId":1e999}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	a := &API{maxBody: 4 << 10}
	p := auth.Principal{ClientID: fuzzClient, TenantID: "t"}
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		for name, spec := range actions {
			cmd, err := spec.decode(a, fuzzRequest(body), p)
			checkDecodeErr(t, err)
			if err == nil {
				if cmd == nil {
					t.Fatalf("%s: nil command without error", name)
				}
				if _, _, err := presence.Apply(presence.Facts{}, cmd, now); err != nil {
					var pe *presence.Error
					if !errors.As(err, &pe) {
						t.Fatalf("%s: apply failed untyped: %v", name, err)
					}
				}
			}
		}
		ids, err := a.decodeIDs(fuzzRequest(body))
		checkDecodeErr(t, err)
		if err == nil && len(ids) > MaxIDs {
			t.Fatalf("decodeIDs accepted %d ids", len(ids))
		}
	})
}
