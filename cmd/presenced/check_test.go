package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/diskfault"
	"github.com/presenced/presenced/internal/servertest"
)

// serveAndWrite runs a dev server on data, gives each demo user rounds
// presence writes through the API, and shuts it down cleanly.
func serveAndWrite(t *testing.T, data string, rounds int) {
	t.Helper()
	srv, err := presenced.New(presenced.Config{Addr: "127.0.0.1:0", DataDir: data, Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(srv.URL()+"/"+directory.DemoTenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {directory.DemoDaemonClientID},
		"client_secret": {directory.DemoDaemonSecret}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	pairs := [][2]string{{"Available", "Available"}, {"Busy", "InACall"}, {"DoNotDisturb", "Presenting"}}
	for r := range rounds {
		for _, u := range []string{"adele", "alex", "megan", "lynne", "diego"} {
			p := pairs[r%len(pairs)]
			body := fmt.Sprintf(`{"sessionId":%q,"availability":%q,"activity":%q,"expirationDuration":"PT4H"}`, directory.DemoDaemonClientID, p[0], p[1])
			req, _ := http.NewRequest("POST", srv.URL()+"/v1.0/users/"+u+"@contoso.dev/presence/setPresence", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("setPresence %s: %v", u, err)
			}
			resp.Body.Close()
		}
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func presenceBlock(t *testing.T, data string) string {
	return diskfault.LastBlock(t, filepath.Join(data, "engine"), "KV_presence")
}

// treeSum is a digest of every file under dir, to see that it did not change.
func treeSum(t *testing.T, dir string) string {
	h := sha256.New()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			fmt.Fprintf(h, "%s %x\n", p, sha256.Sum256(b))
		}
		return nil
	})
	return fmt.Sprintf("%x", h.Sum(nil))
}

// presenced check reports each stream and exits non-zero on damage, without
// changing the files it checks: the damages a start refuses, and a record
// damaged in a block the engine's index vouches for, which only a check that
// reads every record finds before a user is read.
func TestCheckCommandReportsDamage(t *testing.T) {
	for _, c := range []struct {
		name   string
		rounds int
		damage func(t *testing.T, data string)
		want   string // in the report; "" = no damage
	}{
		{"undamaged", 3, func(*testing.T, string) {}, ""},
		{"16 bytes flipped in a live record", 1, func(t *testing.T, data string) { diskfault.FlipMiddle(t, presenceBlock(t, data), 16) }, "KV_presence: DAMAGED"},
		{"16 bytes flipped, rebuilt as after a crash", 3, func(t *testing.T, data string) {
			blk := presenceBlock(t, data)
			diskfault.FlipMiddle(t, blk, 16)
			os.Remove(filepath.Join(filepath.Dir(blk), "index.db"))
		}, "KV_presence: DAMAGED"},
		{"last block emptied", 3, func(t *testing.T, data string) { os.Truncate(presenceBlock(t, data), 0) }, "KV_presence: DAMAGED"},
		{"stream directory deleted", 3, func(t *testing.T, data string) {
			os.RemoveAll(filepath.Dir(filepath.Dir(presenceBlock(t, data))))
		}, "KV_presence: MISSING"},
		{"signing key deleted", 3, func(t *testing.T, data string) { os.Remove(filepath.Join(data, "issuer-key.pem")) }, "signing key: MISSING"},
		// Before, "manifest: none" and "no damage found", exit 0: with the
		// manifest gone, a stream's lost tail cannot be seen.
		{"manifest deleted", 3, func(t *testing.T, data string) { os.Remove(filepath.Join(data, presenced.ManifestFile)) }, "manifest: MISSING: the engine holds"},
		{"manifest of a newer presenced", 3, func(t *testing.T, data string) {
			path := filepath.Join(data, presenced.ManifestFile)
			b, _ := os.ReadFile(path)
			os.WriteFile(path, bytes.Replace(b, []byte(`"version": 1`), []byte(`"version": 2`), 1), 0o600)
		}, "written by a newer presenced"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := t.TempDir()
			serveAndWrite(t, data, c.rounds)
			c.damage(t, data)
			before := treeSum(t, filepath.Join(data, "engine"))
			var out, errb bytes.Buffer
			err := run([]string{"check", "--data", data, "--scratch", t.TempDir()}, &out, &errb)
			report := out.String()
			if c.want == "" {
				if err != nil || !strings.Contains(report, "KV_presence: ok") || !strings.Contains(report, "no damage found") {
					t.Fatalf("check: %v\n%s%s", err, report, errb.String())
				}
			} else if err == nil || !strings.Contains(report, c.want) || !strings.Contains(report, "DAMAGE FOUND") {
				t.Fatalf("check: %v, want a report with %q:\n%s%s", err, c.want, report, errb.String())
			}
			for _, s := range []string{"KV_meta: ok", "KV_subscriptions: ok", "CHANGES: ok"} {
				if !strings.Contains(report, s) {
					t.Errorf("report lacks %q:\n%s", s, report)
				}
			}
			if after := treeSum(t, filepath.Join(data, "engine")); after != before {
				t.Error("check changed the engine's files")
			}
		})
	}
}

// check refuses a data directory a server is using.
func TestCheckCommandRefusesADirectoryInUse(t *testing.T) {
	data := t.TempDir()
	servertest.Start(t, presenced.Config{DataDir: data, Dev: true})
	var out, errb bytes.Buffer
	err := run([]string{"check", "--data", data}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "is in use by process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("check of a directory in use: %v", err)
	}
}
