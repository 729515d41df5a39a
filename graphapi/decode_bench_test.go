package graphapi

import (
	"bytes"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/directory"
)

// BenchmarkDecodeSetPresence is a setPresence body's strict decode alone
// (read, scan, check, the command): the part of a write's allocations that
// is graphapi's.
//
//	go test -run '^$' -bench DecodeSetPresence -benchmem -count 6 ./graphapi/
func BenchmarkDecodeSetPresence(b *testing.B) {
	a := &API{maxBody: 1 << 20}
	body := []byte(`{"sessionId":"` + directory.DemoDaemonClientID + `:bench","availability":"Busy","activity":"InACall","expirationDuration":"PT1H"}`)
	tmpl := httptest.NewRequest("POST", "/v1.0/users/x/presence/setPresence", nil)
	tmpl.Header.Set("Content-Type", "application/json")
	p := auth.Principal{ClientID: directory.DemoDaemonClientID}
	b.ReportAllocs()
	for b.Loop() {
		r := *tmpl
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		if _, err := decodeSetPresence(a, &r, p); err != nil {
			b.Fatal(err)
		}
	}
}
