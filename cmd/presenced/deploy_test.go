package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repoRoot is where the Dockerfile and deploy/ are.
const repoRoot = "../.."

// dockerfile is the parts of the Dockerfile the tests check.
type dockerfile struct {
	froms       int
	buildLine   string            // the RUN line with `go build`
	env         map[string]string // ENV of the final stage
	user        string
	volumes     []string
	healthcheck []string // the CMD of HEALTHCHECK, exec form
	entrypoint  []string
}

// readDockerfile reads the Dockerfile, joining continued lines.
func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var cur string
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		if line := strings.TrimSpace(cur + l); line != "" {
			lines = append(lines, line)
		}
		cur = ""
	}
	d := dockerfile{env: map[string]string{}}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		switch instr {
		case "FROM":
			d.froms++
			d.env = map[string]string{} // the final stage's ENV counts
		case "RUN":
			if strings.Contains(rest, "go build") {
				d.buildLine = rest
			}
		case "ENV":
			for _, kv := range shellWords(t, rest) {
				k, v, _ := strings.Cut(kv, "=")
				d.env[k] = v
			}
		case "USER":
			d.user = rest
		case "VOLUME":
			d.volumes = append(d.volumes, strings.Fields(rest)...)
		case "HEALTHCHECK":
			_, cmd, ok := strings.Cut(rest, " CMD ")
			if !ok || json.Unmarshal([]byte(cmd), &d.healthcheck) != nil {
				t.Fatalf("HEALTHCHECK is not in exec form: %s", rest)
			}
		case "ENTRYPOINT":
			if json.Unmarshal([]byte(rest), &d.entrypoint) != nil {
				t.Fatalf("ENTRYPOINT is not in exec form: %s", rest)
			}
		}
	}
	return d
}

// shellWords splits a line as sh does, for the quoting the Dockerfile
// uses: words, "double" and 'single' quotes.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	var w strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			w.WriteByte(c)
		case c == '"' || c == '\'':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				out = append(out, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("unterminated quote in %q", s)
	}
	if in {
		out = append(out, w.String())
	}
	return out
}

// The image's build step, run exactly as the Dockerfile writes it (only
// the output path moved), makes a static binary that runs as the image
// runs it: with the image's environment, and answering its HEALTHCHECK.
func TestDockerfileBuildsAStaticBinaryThatRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	d := readDockerfile(t)
	if d.froms < 2 {
		t.Errorf("%d stages: the image should be built in one and run from another", d.froms)
	}
	if d.user == "" || d.user == "root" || strings.HasPrefix(d.user, "0") {
		t.Errorf("USER %q: the image must not run as root", d.user)
	}
	if d.env["PRESENCED_DATA"] != "/data" || !strings.Contains(strings.Join(d.volumes, " "), "/data") {
		t.Errorf("data in %q, volumes %v: want /data, a volume", d.env["PRESENCED_DATA"], d.volumes)
	}

	words := shellWords(t, d.buildLine)
	var env []string
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env, words = append(env, words[0]), words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("build line %q", d.buildLine)
	}
	bin := filepath.Join(t.TempDir(), "presenced")
	for i, w := range words {
		if w == "-o" && i+1 < len(words) {
			words[i+1] = bin
		}
	}
	build := exec.Command(words[0], words[1:]...)
	build.Dir = repoRoot
	build.Env = append(os.Environ(), env...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", d.buildLine, err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (program header %v)", p.Type)
		}
	}
	f.Close()

	// Run it as the image does: its ENTRYPOINT and CMD ("serve"), its
	// environment, only the address, the data directory and dev mode (the
	// image has no directory file) changed.
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := exec.CommandContext(ctx, bin, "serve")
	srv.Env = os.Environ()
	for k, v := range d.env {
		srv.Env = append(srv.Env, k+"="+v)
	}
	srv.Env = append(srv.Env, "PRESENCED_ADDR=127.0.0.1:0", "PRESENCED_DATA="+data, "PRESENCED_DEV=true")
	stdout, _ := srv.StdoutPipe()
	var logs syncBuffer
	srv.Stderr = &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill() }()
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`listening on http://(\S+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- strings.TrimSuffix(m[1], ",")
			}
		}
	}()
	var a string
	select {
	case a = <-addr:
	case <-ctx.Done():
		t.Fatalf("the binary did not start: %s", logs.String())
	}

	// The HEALTHCHECK, with the image's binary path replaced: it passes
	// once the server is ready (the cache warms in the background).
	if len(d.healthcheck) == 0 || d.healthcheck[0] != d.entrypoint[0] {
		t.Fatalf("HEALTHCHECK %v does not run the image's binary %v", d.healthcheck, d.entrypoint)
	}
	var out []byte
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		hc := exec.CommandContext(ctx, bin, d.healthcheck[1:]...)
		hc.Env = append(os.Environ(), "PRESENCED_ADDR="+a)
		out, err = hc.CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HEALTHCHECK %v fails: %v\n%s", d.healthcheck, err, out)
		}
	}
	if !strings.Contains(string(out), "ok: cache warm") {
		t.Errorf("HEALTHCHECK does not ask /readyz: %s", out)
	}
	// Stopped as the engine stops a container: SIGTERM, a clean exit, its
	// logs (JSON, as the image sets) written out.
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
	var line map[string]any
	if first, _, _ := strings.Cut(logs.String(), "\n"); json.Unmarshal([]byte(first), &line) != nil || line["msg"] == nil {
		t.Errorf("the image's logs are not JSON: %q", first)
	}
}

// Every PRESENCED_ variable the deployment files and docs name is a flag's.
func TestDeployFilesNameRealVariables(t *testing.T) {
	known := map[string]bool{}
	for _, cmd := range [][]string{{"serve", "-h"}, {"healthcheck", "-h"}, {"check", "-h"}} {
		var out, errb bytes.Buffer
		if err := run(cmd, &out, &errb); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%v: %v", cmd, err)
		}
		for _, m := range regexp.MustCompile(`\[\$(PRESENCED_[A-Z0-9_]+)\]`).FindAllStringSubmatch(errb.String(), -1) {
			known[m[1]] = true
		}
	}
	files := []string{"Dockerfile", "deploy/docker-compose.yml", "deploy/compose-cluster.yml", "deploy/presenced.service", "docs/operating.md"}
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range regexp.MustCompile(`PRESENCED_[A-Z0-9_]*[A-Z0-9]`).FindAllString(string(raw), -1) {
			if !known[v] && v != "PRESENCED_FLAG" {
				t.Errorf("%s names %s, which is no flag's variable", f, v)
			}
		}
	}
}

// The systemd unit runs sandboxed: its own user, a read-only system, its
// state directory only, no privileges to gain.
func TestSystemdUnitIsSandboxed(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "deploy/presenced.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	for _, opt := range []string{"DynamicUser=yes", "StateDirectory=presenced", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
		"PrivateTmp=yes", "PrivateDevices=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=", "SystemCallFilter=@system-service",
		"ExecReload=/bin/kill -HUP $MAINPID", "ExecStart=/usr/local/bin/presenced serve"} {
		if !strings.Contains(unit, opt) {
			t.Errorf("the unit lacks %q", opt)
		}
	}
}

// The image is built from the repository as .dockerignore leaves it: every
// file the Dockerfile's `go build` reads (the Go files and embedded assets
// of each package of this module it compiles, with the build line's
// environment, and go.mod and go.sum) must be in that context. The build
// test above runs in the whole checkout, so without this a pattern that
// left out something the build needs would only show where a container
// engine runs.
func TestDockerContextHoldsWhatTheBuildReads(t *testing.T) {
	d := readDockerfile(t)
	words := shellWords(t, d.buildLine)
	var env []string
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env, words = append(env, words[0]), words[1:]
	}
	pkg := words[len(words)-1]
	if !strings.HasPrefix(pkg, "./") {
		t.Fatalf("the build line %q does not end with the package it builds", d.buildLine)
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	ignore := parseDockerignore(t, string(raw))

	list := exec.Command("go", "list", "-deps", "-json", pkg)
	list.Dir = repoRoot
	list.Env = append(os.Environ(), env...)
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			ImportPath string
			Dir        string
			Module     *struct{ Main bool }
			GoFiles    []string
			EmbedFiles []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue // the standard library, or a module `go mod download` fetched
		}
		dir, err := filepath.Rel(root, p.Dir)
		if err != nil || strings.HasPrefix(dir, "..") {
			t.Fatalf("package %s is outside the repository: %s", p.ImportPath, p.Dir)
		}
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			needed = append(needed, filepath.ToSlash(filepath.Join(dir, f)))
		}
	}
	if len(needed) < 50 {
		t.Fatalf("go list named %d files: %v", len(needed), needed)
	}
	for _, f := range needed {
		if p := ignore.excludes(f); p != "" {
			t.Errorf("the build reads %s, which .dockerignore's %q leaves out of the image's context", f, p)
		}
	}
	// The check itself: what the patterns are there for is left out.
	for _, f := range []string{"sdktest/go.mod", "graphapi/batch_test.go", "directory/testdata/example.json", ".git/HEAD"} {
		if ignore.excludes(f) == "" {
			t.Errorf(".dockerignore keeps %s in the context", f)
		}
	}
}

// dockerignore is .dockerignore's patterns, each split at '/'.
type dockerignore [][]string

// parseDockerignore reads the patterns as the engine does (comments and
// blank lines skipped, each pattern cleaned, a leading '/' dropped); the
// file's exceptions ('!') and escapes are refused rather than misread.
func parseDockerignore(t *testing.T, s string) dockerignore {
	t.Helper()
	var out dockerignore
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.ContainsAny(l, `!\`) {
			t.Fatalf(".dockerignore pattern %q: exceptions and escapes are not understood by this test", l)
		}
		out = append(out, strings.Split(strings.TrimPrefix(path.Clean(l), "/"), "/"))
	}
	return out
}

// excludes is the pattern that leaves file out of the context, or "": a
// pattern matches a path or any directory above it, '**' matches any
// number of directories, and the rest is path.Match's per element, as in
// moby/patternmatcher.
func (d dockerignore) excludes(file string) string {
	parts := strings.Split(file, "/")
	for _, p := range d {
		for n := 1; n <= len(parts); n++ {
			if matchElems(p, parts[:n]) {
				return strings.Join(p, "/")
			}
		}
	}
	return ""
}

func matchElems(pattern, name []string) bool {
	if len(pattern) == 0 {
		return len(name) == 0
	}
	if pattern[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if matchElems(pattern[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	ok, err := path.Match(pattern[0], name[0])
	return err == nil && ok && matchElems(pattern[1:], name[1:])
}
