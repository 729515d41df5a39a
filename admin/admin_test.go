package admin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/presenced/presenced/admin"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/dirstore"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/store"
)

func serve(t *testing.T) (*httptest.Server, *dirstore.Store) {
	t.Helper()
	ctx := context.Background()
	s, err := dirstore.Open(ctx, dirstore.Options{KV: enginetest.Bucket(t, "directory").(store.SerialKV), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Import(ctx, directory.DemoFile(0), nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.New(s, nil))
	t.Cleanup(srv.Close)
	return srv, s
}

// Bad requests to the operator's API: a status and a message naming what
// is wrong, and nothing changed.
func TestAdminRejects(t *testing.T) {
	srv, s := serve(t)
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"not JSON", "POST", "/tenants", `{"name":`, 400, "request body"},
		{"an unknown field", "POST", "/tenants", `{"name":"N","domains":["n.example"],"colour":"red"}`, 400, "unknown field \"colour\""},
		{"a tenant with no domain", "POST", "/tenants", `{"name":"N"}`, 400, "at least one verified domain"},
		{"a tenant that exists", "POST", "/tenants", `{"id":"` + directory.DemoTenantID + `","name":"N","domains":["n.example"]}`, 409, "exists already"},
		{"a domain of another tenant", "POST", "/tenants/contoso.dev/domains", `{"domain":"FABRIKAM.dev"}`, 400, "already a verified domain"},
		{"the last domain", "DELETE", "/tenants/contoso.dev/domains/contoso.dev", ``, 400, "at least one verified domain"},
		{"an unknown tenant", "GET", "/tenants/nowhere.example", ``, 404, "nowhere.example"},
		{"a bad policy domain", "PUT", "/tenants/contoso.dev/externalAccess", `{"allowedDomains":["not a domain"]}`, 400, "not a valid domain"},
		{"an http issuer", "POST", "/tenants/contoso.dev/issuers", `{"issuer":"http://idp.example","audiences":["api://x"]}`, 400, "must be https"},
		{"an issuer without audience", "POST", "/tenants/contoso.dev/issuers", `{"issuer":"https://idp.example"}`, 400, "audiences is empty"},
		{"an issuer's unknown claim", "POST", "/tenants/contoso.dev/issuers", `{"issuer":"https://idp.example","audiences":["a"],"userClaim":"nickname"}`, 400, "userClaim"},
		{"an app in no tenant", "POST", "/applications", `{"name":"a"}`, 400, "tenantId"},
		{"an unknown role", "POST", "/applications", `{"tenantId":"contoso.dev","name":"a","roles":["Mail.Read"]}`, 400, "Mail.Read"},
		{"a bad redirect", "POST", "/applications", `{"tenantId":"contoso.dev","name":"a","redirectUris":["ftp://x"]}`, 400, "must be https"},
		{"moving an app", "PATCH", "/applications/" + directory.DemoDaemonClientID, `{"tenantId":"fabrikam.dev"}`, 400, "cannot change"},
		{"an unknown secret", "DELETE", "/applications/" + directory.DemoDaemonClientID + "/secrets/00000000-0000-4000-8000-000000000000", ``, 404, "not one of the application's"},
		{"a secret that has expired", "POST", "/applications/" + directory.DemoDaemonClientID + "/secrets", `{"endDateTime":"2001-01-01T00:00:00Z"}`, 400, "not in the future"},
		{"an import that does not validate", "PUT", "/directory", `{"tenants":[]}`, 400, "at least one tenant"},
		{"no such endpoint", "GET", "/users", ``, 404, "No admin endpoint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := s.Export(context.Background())
			req, _ := http.NewRequest(c.method, srv.URL+admin.Prefix+c.path, strings.NewReader(c.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct{ Error admin.Error }
			_ = json.Unmarshal(raw, &e)
			if resp.StatusCode != c.status || !strings.Contains(e.Error.Message, c.want) {
				t.Fatalf("%d %s, want %d %q", resp.StatusCode, raw, c.status, c.want)
			}
			after, _ := s.Export(context.Background())
			b1, _ := json.Marshal(before)
			b2, _ := json.Marshal(after)
			if string(b1) != string(b2) {
				t.Fatal("a refused request changed the directory")
			}
		})
	}
}

// An import's body is decoded as it arrives: one whose Content-Length
// claims a gigabyte costs what it sends, not what it claims, and a
// malformed one is refused with its line and column, nothing changed.
func TestImportBodyCostsWhatItSends(t *testing.T) {
	srv, s := serve(t)
	before, _ := s.Export(context.Background())
	body := "{\"tenants\": [\n  {\"id\": 7}\n]}"
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	fmt.Fprintf(conn, "PUT %s/directory HTTP/1.1\r\nHost: admin\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", admin.Prefix, 1<<30, body)
	_ = conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	runtime.ReadMemStats(&m1)
	if grew := m1.TotalAlloc - m0.TotalAlloc; grew > 64<<20 {
		t.Fatalf("the import allocated %d MB for a body of %d bytes", grew>>20, len(body))
	}
	if resp.StatusCode != 400 || !strings.Contains(string(raw), "line 2, column") {
		t.Fatalf("%d %s, want 400 naming line 2", resp.StatusCode, raw)
	}
	after, _ := s.Export(context.Background())
	b1, _ := json.Marshal(before)
	b2, _ := json.Marshal(after)
	if string(b1) != string(b2) {
		t.Fatal("a refused import changed the directory")
	}
}
