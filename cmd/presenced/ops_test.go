package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced"
)

// Every flag of serve is named with its environment variable in
// `presenced serve -h`.
func TestEveryServeFlagHasItsEnvironmentVariable(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run([]string{"serve", "-h"}, &out, &errb); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve -h: %v", err)
	}
	flagLine := regexp.MustCompile(`^  -([a-z0-9-]+)`)
	lines := strings.Split(errb.String(), "\n")
	n := 0
	for i, l := range lines {
		m := flagLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n++
		want := "[$" + envName(m[1]) + "]"
		if i+1 >= len(lines) || !strings.Contains(lines[i+1], want) {
			t.Errorf("--%s: its help does not name %s", m[1], want)
		}
	}
	if n < 30 {
		t.Fatalf("serve -h lists %d flags:\n%s", n, errb.String())
	}
}

// A variable sets its flag; the command line wins over it; a bad value
// names the variable.
func TestEnvironmentSetsFlagsAndTheCommandLineWins(t *testing.T) {
	parse := func(env map[string]string, args ...string) (presenced.Config, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var cfg presenced.Config
		fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "")
		fs.BoolVar(&cfg.Dev, "dev", false, "")
		apply := limitFlags(fs, &cfg)
		opsFlags(fs, &cfg)
		if err := fromEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
			return cfg, err
		}
		if err := fs.Parse(args); err != nil {
			return cfg, err
		}
		return cfg, apply()
	}
	cfg, err := parse(map[string]string{"PRESENCED_ADDR": ":9000", "PRESENCED_DEV": "true", "PRESENCED_READ_TIMEOUT": "5s",
		"PRESENCED_MAX_CONNECTIONS": "0", "PRESENCED_TLS_CERT": "/etc/c.pem", "PRESENCED_ACCESS_LOG": "false"})
	if err != nil || cfg.Addr != ":9000" || !cfg.Dev || cfg.ReadTimeout != 5*time.Second || cfg.MaxConnections != -1 || cfg.TLSCertFile != "/etc/c.pem" || cfg.AccessLog {
		t.Fatalf("from the environment: %+v %v", cfg, err)
	}
	cfg, err = parse(map[string]string{"PRESENCED_ADDR": ":9000", "PRESENCED_READ_TIMEOUT": "5s"}, "--addr", ":7000", "--read-timeout", "7s")
	if err != nil || cfg.Addr != ":7000" || cfg.ReadTimeout != 7*time.Second {
		t.Fatalf("flags win: %+v %v", cfg, err)
	}
	if _, err := parse(map[string]string{"PRESENCED_READ_TIMEOUT": "soon"}); err == nil || !strings.Contains(err.Error(), "PRESENCED_READ_TIMEOUT") {
		t.Fatalf("a bad value: %v", err)
	}
}

func TestLogFormat(t *testing.T) {
	for _, c := range []struct {
		format string
		json   bool
		err    string
	}{{"text", false, ""}, {"json", true, ""}, {"yaml", false, "--log-format"}} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		var cfg presenced.Config
		apply := opsFlags(fs, &cfg)
		if err := fs.Parse([]string{"--log-format", c.format}); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		log, closeLog, err := apply(&out, slog.LevelInfo)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v", c.format, err)
			}
			continue
		}
		log.Info("hello", "k", "v")
		closeLog()
		var m map[string]any
		if isJSON := json.Unmarshal(out.Bytes(), &m) == nil; isJSON != c.json || err != nil {
			t.Errorf("%s: %q %v", c.format, out.String(), err)
		}
	}
}
