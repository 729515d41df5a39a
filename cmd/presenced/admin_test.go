package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/servertest"
)

// runOK runs a command and returns its standard output, failing the test
// on an error.
func runOK(t *testing.T, args ...string) []byte {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(args, &out, &errb); err != nil {
		t.Fatalf("presenced %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return m
}

// A new deployment: the directory is imported with no server running,
// changed offline, and a server then starts on it without --directory.
// A file that does not validate changes nothing.
func TestDirectoryImportOfflineThenServe(t *testing.T) {
	data := t.TempDir()
	example := filepath.Join("..", "..", "directory", "testdata", "example.json")
	got := decodeJSON(t, runOK(t, "directory", "import", "--data", data, example))
	if got["users"] != float64(3) || got["tenants"] != float64(2) {
		t.Fatalf("import: %v", got)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"tenants":[{"id":"x"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := run([]string{"directory", "import", "--data", data, bad}, &out, &errb); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("a bad file: %v", err)
	}
	// An administrator's mistakes: refused, saying what to give or do
	// instead (not the directory file's field names), nothing changed.
	runOK(t, "admin", "--data", data, "tenant", "add", "--name", "Wingtip Air", "--domain", "wingtip-air.example")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"tenant", "add", "--name", "Wingtip"}, []string{"tenant add needs --domain"}},
		{[]string{"tenant", "add", "--domain", "wingtip.test"}, []string{"tenant add needs --name"}},
		{[]string{"domain", "remove", "wingtip-air.example", "WINGTIP-AIR.example"}, []string{"only domain", "presenced admin domain add", "presenced admin tenant remove"}},
	} {
		before := runOK(t, "admin", "--data", data, "tenant", "list")
		var out, errb bytes.Buffer
		err := run(append([]string{"admin", "--data", data}, c.args...), &out, &errb)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("admin %v: %v, want it to say %q", c.args, err, w)
			}
		}
		if after := runOK(t, "admin", "--data", data, "tenant", "list"); !bytes.Equal(before, after) {
			t.Errorf("admin %v changed the directory", c.args)
		}
	}
	runOK(t, "admin", "--data", data, "tenant", "remove", "wingtip-air.example")
	runOK(t, "admin", "--data", data, "domain", "add", "northwind.example", "northwind.test")
	tenants := decodeJSON(t, runOK(t, "admin", "--data", data, "tenant", "list"))
	if n := len(tenants["value"].([]any)); n != 2 {
		t.Fatalf("tenant list: %d tenants", n)
	}

	srv := servertest.Start(t, presenced.Config{DataDir: data})
	if t1, ok := srv.Directory().Tenant("northwind.test"); !ok || t1.Name != "Northwind Traders" {
		t.Fatalf("the domain added offline: %+v %v", t1, ok)
	}
}

// A new deployment's first import, to a --data that does not exist yet (or
// a mistyped one): refused, not made, with what to do; made as it says,
// the import goes through.
func TestDirectoryImportWithoutADataDirectory(t *testing.T) {
	data := filepath.Join(t.TempDir(), "pd")
	example := filepath.Join("..", "..", "directory", "testdata", "example.json")
	for _, args := range [][]string{{"directory", "import", "--data", data, example}, {"admin", "--data", data, "tenant", "list"}} {
		var out, errb bytes.Buffer
		err := run(args, &out, &errb)
		want := "no data directory " + data + " (no such file or directory): give the --data of the server"
		if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "create the directory first (mkdir -p "+data+")") {
			t.Errorf("%v: %v\nwant it to start with %q and say how to create it", args, err, want)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("the refused commands made %s: %v", data, err)
	}
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := decodeJSON(t, runOK(t, "directory", "import", "--data", data, example)); got["users"] != float64(3) {
		t.Fatalf("import after mkdir: %v", got)
	}
}

// With a server running, presenced admin goes through its socket and the
// server applies each change at once: an application registered with a
// secret gets tokens, a SCIM token provisions, an export is a directory
// file that validates.
func TestAdminThroughARunningServer(t *testing.T) {
	srv := startDevServer(t, 0)
	data := srv.DataDir()
	sock := filepath.Join(data, presenced.AdminSocket)
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the operator's socket: %v, %v", fi, err)
	}
	if left, _ := filepath.Glob(filepath.Join(data, ".admin-*")); len(left) > 0 {
		t.Fatalf("the socket's private directory is left: %v", left)
	}
	app := decodeJSON(t, runOK(t, "admin", "--data", data, "app", "add", "--tenant", directory.DemoTenantDomain, "--name", "sync job",
		"--role", "Presence.ReadWrite.All", "--role", "User.Read.All"))
	secret, _ := app["secret"].(string)
	clientID, _ := app["clientId"].(string)
	if secret == "" || !directory.IsGUID(clientID) {
		t.Fatalf("app add: %v", app)
	}
	resp, err := http.PostForm(srv.URL()+"/"+directory.DemoTenantID+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {clientID}, "client_secret": {secret}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a token with the new app's secret: %s %s", resp.Status, body)
	}
	second := decodeJSON(t, runOK(t, "admin", "--data", data, "app", "secret", "add", clientID, "--name", "rotation", "--expires", "2099-01-01"))
	shown := decodeJSON(t, runOK(t, "admin", "--data", data, "app", "show", clientID))
	if n := len(shown["secrets"].([]any)); n != 2 || strings.Contains(string(runOK(t, "admin", "--data", data, "app", "show", clientID)), second["secret"].(string)) {
		t.Fatalf("app show after a second secret: %v", shown)
	}
	runOK(t, "admin", "--data", data, "app", "secret", "remove", clientID, second["id"].(string))

	tok := decodeJSON(t, runOK(t, "admin", "--data", data, "scim", "token", "add", directory.DemoTenantDomain, "--name", "Entra"))
	req, _ := http.NewRequest("GET", srv.URL()+"/scim/v2/Users?count=1", nil)
	req.Header.Set("Authorization", "Bearer "+tok["token"].(string))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("SCIM with the new token: %s", resp.Status)
	}

	runOK(t, "admin", "--data", data, "policy", "set", directory.DemoTenantID, "--allow", directory.DemoFabrikamDomain)
	runOK(t, "admin", "--data", data, "policy", "set", directory.DemoFabrikamTenantID, "--allow-all")
	if !srv.Directory().Trusted(directory.DemoTenantID, directory.DemoFabrikamTenantID) {
		t.Fatal("the policies set through the socket do not apply")
	}
	runOK(t, "admin", "--data", data, "issuer", "add", directory.DemoTenantID, "--issuer", "https://login.microsoftonline.com/"+directory.DemoTenantID+"/v2.0",
		"--audience", "api://presenced")
	if c, _ := srv.Directory().Tenant(directory.DemoTenantID); len(c.Issuers) != 1 {
		t.Fatalf("issuer add: %+v", c.Issuers)
	}

	var errb bytes.Buffer
	if err := run([]string{"admin", "--data", data, "domain", "add", directory.DemoTenantID, directory.DemoFabrikamDomain}, io.Discard, &errb); err == nil || !strings.Contains(err.Error(), "already a verified domain") {
		t.Fatalf("another tenant's domain: %v", err)
	}
	if err := run([]string{"admin", "--data", data, "app", "add", "--tenant", directory.DemoTenantID, "--name", "x", "--role", "Mail.Read"}, io.Discard, &errb); err == nil || !strings.Contains(err.Error(), "Mail.Read") {
		t.Fatalf("an unknown role: %v", err)
	}

	exported := runOK(t, "directory", "export", "--data", data)
	f, err := directory.Parse(exported)
	if err != nil {
		t.Fatalf("the export does not validate: %v", err)
	}
	if len(f.Applications) != 4 || bytes.Contains(exported, []byte(secret)) {
		t.Fatalf("the export: %d applications, or the secret in clear", len(f.Applications))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is left after the server stopped: %v", err)
	}
}
