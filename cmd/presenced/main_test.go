package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "a command is required"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"serve", "--log-level", "loud"}, "--log-level"},
		{[]string{"serve", "--data", t.TempDir()}, "directory file is required"},
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
}

// The server's GC target is 50 % unless GOGC says otherwise.
func TestGCPercent(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	for _, c := range []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{}, defaultGCPercent},
		{map[string]string{"GOGC": "200"}, 100}, // left as the runtime set it
		{map[string]string{"GOGC": "off"}, 100},
	} {
		debug.SetGCPercent(100)
		setGCPercent(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("env %v: GC percent %d, want %d", c.env, got, c.want)
		}
	}
}
