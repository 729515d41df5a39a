package clusterproof_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/freeport"
	"github.com/presenced/presenced/internal/nodetest"
)

// docScriptTimeout bounds each block of the script (the first waits for
// three nodes to start: ~5 s, longer on a loaded machine).
const docScriptTimeout = 2 * time.Minute

// The copy-paste script of docs/cluster.md ("Three nodes on one machine")
// runs as written: its first block starts three nodes that become ready,
// its second writes through node1, reads the write through node2 and
// stops the nodes, which exit. Only two things change: the build line
// links the binary the tests built, and the fixed ports become free ones
// (other tests, or another checkout's, may hold 8081). The nodes' PIDs are
// the script's own pid files; those still running at the end are killed
// by PID.
func TestClusterDocScript(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three presenced processes")
	}
	for _, tool := range []string{"bash", "curl", "sed", "grep"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the script needs %s: %v", tool, err)
		}
	}
	start, use := docScript(t)
	bin := nodetest.Binary(t)
	const build = "go build -o presenced ./cmd/presenced"
	first, rest, _ := strings.Cut(start, "\n")
	if first != build {
		t.Fatalf("the script's first line is %q, not %q: change the test with the doc", first, build)
	}
	start = "ln -s " + bin + " presenced\n" + rest
	// Every port of the script, each to a free port.
	portRE := regexp.MustCompile(`\b(808[1-3]|622[2-4]|422[2-4])\b`)
	seen := map[string]string{}
	for _, p := range portRE.FindAllString(start+use, -1) {
		seen[p] = ""
	}
	if len(seen) != 9 {
		t.Fatalf("the script names ports %v; the test expects 9 (3 nodes × HTTP, routes, NATS)", seen)
	}
	free := freeport.Ports(t, len(seen))
	i := 0
	for p := range seen {
		seen[p] = strconv.Itoa(free[i])
		i++
	}
	local := func(s string) string { return portRE.ReplaceAllStringFunc(s, func(p string) string { return seen[p] }) }

	dir := t.TempDir()
	t.Cleanup(func() { killScriptNodes(t, dir, bin) })
	out := runScript(t, dir, local(start))
	if n := strings.Count(out, "engine ready"); n != 3 || !strings.Contains(out, "partitions=3 replicas=3") {
		t.Fatalf("the first block printed %d \"engine ready\" lines (want 3, with partitions=3 replicas=3):\n%s", n, out)
	}
	pids := scriptPIDs(t, dir)
	// The second block up to its first kill, then the kills.
	i = strings.Index(use, "\nkill ")
	if i < 0 {
		t.Fatal("the second block stops no node")
	}
	out = runScript(t, dir, local(use[:i+1]))
	if !strings.Contains(out, `"availability":"Busy"`) {
		// A write reaches another node's cache within milliseconds, not
		// at once: on a loaded machine the script's read may come first
		// (and answer a presence, not Busy yet). The write must still
		// cross.
		if !strings.Contains(out, `"availability":`) || !awaitBusyThrough("http://127.0.0.1:"+seen["8082"]) {
			t.Fatalf("the read through node2 did not answer Busy, nor within 5 s after:\n%s", out)
		}
		t.Logf("the script's read through node2 came before the write crossed; it crossed after")
	}
	runScript(t, dir, local(use[i+1:]))
	deadline := time.Now().Add(time.Minute)
	for name, pid := range pids {
		for alive(pid, bin) {
			if time.Now().After(deadline) {
				t.Fatalf("%s (PID %d) still runs a minute after the script's kill", name, pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// docScript is the two sh blocks under "## Three nodes on one machine".
func docScript(t *testing.T) (start, use string) {
	t.Helper()
	raw, err := os.ReadFile("../docs/cluster.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "## Three nodes on one machine\n")
	if !ok {
		t.Fatal("docs/cluster.md has no section \"Three nodes on one machine\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) != 2 {
		t.Fatalf("the section has %d sh blocks, want 2 (start, use)", len(blocks))
	}
	return blocks[0][1], blocks[1][1]
}

// runScript runs script with bash -e in dir, bounded, and returns its
// output.
func runScript(t *testing.T, dir, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), docScriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-c", script)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		for _, n := range []string{"node1", "node2", "node3"} {
			if log, err := os.ReadFile(filepath.Join(dir, n+".log")); err == nil {
				t.Logf("%s.log:\n%s", n, lastLines(string(log), 30))
			}
		}
		t.Fatalf("the script failed: %v\n%s", err, out.String())
	}
	return out.String()
}

// scriptPIDs reads the script's pid files.
func scriptPIDs(t *testing.T, dir string) map[string]int {
	t.Helper()
	pids := map[string]int{}
	for _, n := range []string{"node1", "node2", "node3"} {
		raw, err := os.ReadFile(filepath.Join(dir, n+".pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			t.Fatalf("%s.pid: %v", n, err)
		}
		pids[n] = pid
	}
	return pids
}

// alive reports whether pid is still a running process of bin (not a
// zombie, and not a later process that reused the PID).
func alive(pid int, bin string) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	if _, after, ok := strings.Cut(string(stat), ") "); ok && strings.HasPrefix(after, "Z") {
		return false
	}
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return err == nil && exe == bin
}

// killScriptNodes kills, by PID, the script's nodes that still run.
func killScriptNodes(t *testing.T, dir, bin string) {
	for _, n := range []string{"node1", "node2", "node3"} {
		raw, err := os.ReadFile(filepath.Join(dir, n+".pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && alive(pid, bin) {
			t.Logf("killing %s (PID %d), still running", n, pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// awaitBusyThrough polls, for up to 5 s, until adele reads Busy through
// the node at base (with a token of that node's issuer).
func awaitBusyThrough(base string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tok, err := nodetest.Token(ctx, http.DefaultClient, base, url.Values{"grant_type": {"client_credentials"},
		"client_id": {directory.DemoDaemonClientID}, "client_secret": {directory.DemoDaemonSecret},
		"scope": {"https://graph.microsoft.com/.default"}})
	for err == nil && ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1.0/users/adele@contoso.dev/presence", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), `"availability":"Busy"`) {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
