package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/servertest"
)

func TestCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "a command is required"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"serve", "--log-level", "loud"}, "--log-level"},
		{[]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, "is empty: seed it with --directory FILE, or import one with `presenced directory import"},
		{[]string{"clock", "rewind", "PT1H"}, "usage: presenced clock"},
		{[]string{"serve", "--data", t.TempDir(), "--demo-users", "10"}, "--demo-users adds to dev mode's demo tenant: it needs --dev and no --directory"},
		{[]string{"serve", "--dev", "--directory", "d.json", "--demo-users", "10"}, "it needs --dev and no --directory"},
		{[]string{"serve", "--dev", "--demo-users", "-1"}, "--demo-users must be 0 to 1000000, not -1"},
		{[]string{"serve", "--dev", "--demo-users", "1000001"}, "--demo-users must be 0 to 1000000"},
	} {
		var out, errb bytes.Buffer
		err := run(c.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run %v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

// The clock command with no server where it asks (the README's `clock
// advance` before `serve --dev`, or a server on another port) says so,
// and how to go on, rather than the transport's "Post …: dial tcp …".
func TestClockCommandWithoutAServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, args := range [][]string{
		{"clock", "--url", url, "advance", "PT10M"},
		{"clock", "--url", url},
	} {
		var out, errb bytes.Buffer
		err := run(args, &out, &errb)
		if err == nil {
			t.Fatalf("run %v: no error", args)
		}
		want := "no presenced answered at " + url + " (connect: connection refused): start one with `presenced serve --dev`"
		if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "--url") {
			t.Errorf("run %v:\n%v\nwant it to start with\n%s\nand name --url", args, err, want)
		}
	}
}

// A server not in dev mode has no dev clock: said plainly, without the
// router's 404 body.
func TestClockCommandOutsideDevMode(t *testing.T) {
	data := t.TempDir()
	runOK(t, "directory", "import", "--data", data, filepath.Join("..", "..", "directory", "testdata", "example.json"))
	srv := servertest.Start(t, presenced.Config{DataDir: data})
	var out, errb bytes.Buffer
	err := run([]string{"clock", "--url", srv.URL(), "advance", "PT10M"}, &out, &errb)
	want := srv.URL() + " has no dev clock (404 at /dev/clock): a presenced has one only when started with --dev"
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "segment") {
		t.Fatalf("clock against a production server: %v\nwant %q…", err, want)
	}
}

func TestClockCommandMovesADevServer(t *testing.T) {
	srv := startDevServer(t, 0)
	before := srv.Clock().Now()
	var out, errb bytes.Buffer
	if err := run([]string{"clock", "--url", srv.URL(), "advance", "PT10M"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"offset":"PT10M"`) || srv.Clock().Now().Sub(before) < 10*time.Minute {
		t.Fatalf("clock advance: %s", out.String())
	}
	if err := run([]string{"clock", "--url", srv.URL(), "advance", "ten minutes"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("a bad duration: %v", err)
	}
	// Past the clock's horizon: refused, with the server's words and not
	// its JSON, and the clock stays where it was.
	before = srv.Clock().Now()
	for range 2 {
		err := run([]string{"clock", "--url", srv.URL(), "advance", "P15000W"}, &out, &errb)
		if err == nil || !strings.HasPrefix(err.Error(), "400 Bad Request: Moving forward by P15000W would take the clock past 2262-01-01T00:00:00Z") {
			t.Fatalf("advance P15000W: %v", err)
		}
	}
	if now := srv.Clock().Now(); now.Before(before) || now.Sub(before) > time.Minute {
		t.Fatalf("the clock moved from %v to %v", before, now)
	}
}

// The server's GC target is Go's 100 % unless GOGC says otherwise (it was 50
// before the default limit from the live heap).
func TestGCPercent(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	const runtimes = 77 // what the runtime would have read from GOGC
	for _, c := range []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{}, defaultGCPercent},
		{map[string]string{"GOGC": "77"}, runtimes}, // left as the runtime set it
		{map[string]string{"GOGC": "off"}, runtimes},
	} {
		debug.SetGCPercent(runtimes)
		setGCPercent(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("env %v: GC percent %d, want %d", c.env, got, c.want)
		}
	}
}

// On the command line 0 turns a limit off; in Config that is -1, and zero
// the default.
func TestLimitFlags(t *testing.T) {
	parse := func(args ...string) (presenced.Config, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var cfg presenced.Config
		apply := limitFlags(fs, &cfg)
		if err := fs.Parse(args); err != nil {
			return cfg, err
		}
		return cfg, apply()
	}
	cfg, err := parse()
	if err != nil || cfg.ReadTimeout != presenced.DefaultReadTimeout || cfg.MaxConnections != presenced.DefaultMaxConnections || cfg.TokenRate != 20 || cfg.LockoutThreshold != 10 {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
	cfg, err = parse("--read-timeout", "0", "--idle-timeout", "0", "--max-connections", "0", "--token-rate", "0", "--lockout-threshold", "0", "--write-timeout", "5s")
	if err != nil || cfg.ReadTimeout != -1 || cfg.IdleTimeout != -1 || cfg.MaxConnections != -1 || cfg.TokenRate != -1 || cfg.LockoutThreshold != -1 || cfg.WriteTimeout != 5*time.Second {
		t.Fatalf("0 is off: %+v %v", cfg, err)
	}
	for _, bad := range [][]string{{"--max-body-bytes", "0"}, {"--max-header-bytes", "-1"}, {"--token-burst", "0"}, {"--lockout-duration", "0s"}, {"--read-timeout", "-1s"}, {"--max-connections", "-5"}} {
		if _, err := parse(bad...); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: %v, want an error naming the flag", bad, err)
		}
	}
}

// The welcome names the generated users the directory holds, not the
// --demo-users of this start: a data directory whose directory was changed
// since its seeding keeps it.
func TestWelcomeNamesTheGeneratedUsersThereAre(t *testing.T) {
	dir := t.TempDir()
	start := func(demoUsers int) (*presenced.Server, presenced.Config) {
		cfg := presenced.Config{Addr: "127.0.0.1:0", DataDir: dir, Dev: true, DemoUsers: demoUsers}
		srv, err := presenced.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return srv, cfg
	}
	stop := func(srv *presenced.Server) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	welcome := func(srv *presenced.Server, cfg presenced.Config) string {
		var b bytes.Buffer
		printWelcome(&b, srv, cfg)
		return b.String()
	}
	const three = "Besides adele, alex, megan, lynne and diego: 3 generated users, user1@contoso.dev…user3@contoso.dev"
	srv, cfg := start(3)
	if w := welcome(srv, cfg); !strings.Contains(w, three) {
		t.Fatalf("seeded with 3:\n%s", w)
	}
	stop(srv)
	// Changed since its seeding: the directory stays, whatever the flag.
	runOK(t, "admin", "--data", dir, "tenant", "add", "--name", "Northwind", "--domain", "northwind.example")
	for _, n := range []int{0, 10000} {
		srv, cfg := start(n)
		if w := welcome(srv, cfg); !strings.Contains(w, three) {
			t.Errorf("--demo-users %d on the changed directory of 3:\n%s", n, w)
		}
		stop(srv)
	}
	srv, cfg = start(0)
	defer stop(srv)
	if _, ok := srv.Directory().User(directory.DemoUserUPN(3)); !ok {
		t.Fatalf("user3 is gone: the directory was not kept")
	}
}

// Asking a command for help (-h, --help) prints its usage and exits 0, as
// a flag.ExitOnError set does, with no error line; any other error exits 1
// with its line.
func TestHelpIsNotAnError(t *testing.T) {
	for _, args := range [][]string{{"serve", "-h"}, {"clock", "-h"}, {"bench", "--help"}, {"admin", "-h"}, {"directory", "import", "-h"}} {
		var out, errb, printed bytes.Buffer
		if code := exit(run(args, &out, &errb), &printed); code != 0 || printed.Len() != 0 {
			t.Errorf("%v: exit %d, printed %q; want 0 and nothing", args, code, printed.String())
		}
		if errb.Len() == 0 {
			t.Errorf("%v: no usage printed", args)
		}
	}
	var printed bytes.Buffer
	if code := exit(errors.New("a command is required"), &printed); code != 1 || printed.String() != "presenced: a command is required\n" {
		t.Errorf("an error: exit %d, printed %q", code, printed.String())
	}
}

// A command's error is printed with one "presenced: " prefix, also when
// the server's own error already carries it (a second server on a data
// directory in use used to print "presenced: presenced: data directory …").
func TestErrorLineSaysPresencedOnce(t *testing.T) {
	for in, want := range map[string]string{
		"a command is required":              "presenced: a command is required",
		"presenced: data directory x in use": "presenced: data directory x in use",
		"presenced: presenced: twice":        "presenced: twice",
		"check of d: presenced: inner":       "presenced: check of d: presenced: inner",
	} {
		if got := errorLine(errors.New(in)); got != want {
			t.Errorf("errorLine(%q) = %q, want %q", in, got, want)
		}
	}

	dir := t.TempDir()
	servertest.Start(t, presenced.Config{DataDir: dir, Dev: true, DemoUsers: 0})
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "serve", "--dev", "--addr", "127.0.0.1:0", "--data", dir).CombinedOutput()
	if err == nil {
		t.Fatalf("a second server on %s started: %s", dir, out)
	}
	line := strings.TrimSpace(string(out))
	if !strings.HasPrefix(line, "presenced: data directory "+dir+" is in use by process ") || strings.Contains(line, "presenced: presenced:") {
		t.Fatalf("the second server said %q", line)
	}
}
