package presenced_test

import (
	"context"
	"strings"
	"testing"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
)

// Generated demo users belong to dev mode's demo directory; with a
// directory of one's own, or outside dev mode, asking for them is an error
// rather than silently ignored.
func TestDemoUsersOnlyInDevMode(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  presenced.Config
		want string // "" for a server
	}{
		{"dev", presenced.Config{Dev: true, DemoUsers: 100}, ""},
		{"dev, none", presenced.Config{Dev: true}, ""},
		{"production", presenced.Config{DemoUsers: 100, DirectoryFile: "d.json"}, "dev mode's demo directory only"},
		{"dev with a file", presenced.Config{Dev: true, DemoUsers: 100, DirectoryFile: "d.json"}, "dev mode's demo directory only"},
		{"dev with a directory", presenced.Config{Dev: true, DemoUsers: 100, Directory: directory.DemoFile(0)}, "dev mode's demo directory only"},
		{"too many", presenced.Config{Dev: true, DemoUsers: directory.MaxDemoUsers + 1}, "must be 0 to 1000000"},
	} {
		c.cfg.DataDir, c.cfg.Addr, c.cfg.Logger = t.TempDir(), "127.0.0.1:0", quiet
		srv, err := presenced.New(c.cfg)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		case c.want == "":
			if err := srv.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := len(directory.Demo().Users(directory.DemoTenantID)) + c.cfg.DemoUsers
			if got := len(srv.Directory().Users(directory.DemoTenantID)); got != want {
				t.Errorf("%s: %d Contoso users, want %d", c.name, got, want)
			}
			if _, ok := srv.Directory().UserInTenant(directory.DemoTenantID, directory.DemoUserID(100)); ok != (c.cfg.DemoUsers >= 100) {
				t.Errorf("%s: user 100 found: %v", c.name, ok)
			}
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		}
	}
}
