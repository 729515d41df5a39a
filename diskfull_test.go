package presenced_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
	"github.com/presenced/presenced/internal/diskfault"
)

// tmpfsServer is the real binary serving from a small tmpfs in a user and
// mount namespace of its own (unshare -rm): a volume the test can fill. A
// shell in the namespace runs `presenced serve` on it again each time the
// previous one exits, so a restart finds the same (full) volume.
type tmpfsServer struct {
	t     *testing.T
	cmd   *exec.Cmd
	mnt   string // the tmpfs, as the test sees it: /proc/<pid>/root/<dir>
	lines chan string
	pid   int    // the presenced running now
	url   string // where it listens
}

var childRE = regexp.MustCompile(`^child (\d+)$`)

func startInTmpfs(t *testing.T, bin string, sizeMiB, runs int) *tmpfsServer {
	t.Helper()
	if err := exec.Command("unshare", "-rm", "true").Run(); err != nil {
		t.Skipf("needs unshare -rm (user and mount namespaces) to give the server a small volume of its own: %v", err)
	}
	dir := t.TempDir()
	script := fmt.Sprintf(`mount -t tmpfs -o size=%dm tmpfs "$1" || exit 1
for i in $(seq %d); do
  "$2" serve --dev --addr 127.0.0.1:0 --data "$1/data" --log-level warn &
  echo "child $!"
  wait $!
  echo "exited $?"
done`, sizeMiB, runs)
	cmd := exec.Command("unshare", "-rm", "sh", "-c", script, "sh", dir, bin)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &tmpfsServer{t: t, cmd: cmd, mnt: filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "root", dir), lines: make(chan string, 100)}
	t.Cleanup(func() {
		if s.pid != 0 {
			_ = syscall.Kill(s.pid, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	s.await()
	return s
}

// await reads the shell's output until the next presenced listens.
func (s *tmpfsServer) await() {
	s.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				s.t.Fatal("the namespace's shell ended")
			}
			if m := childRE.FindStringSubmatch(l); m != nil {
				s.pid, _ = strconv.Atoi(m[1])
			}
			if m := listenRE.FindStringSubmatch(l); m != nil {
				s.url = m[1]
				return
			}
		case <-timeout:
			s.t.Fatal("presenced did not say where it listens")
		}
	}
}

// fill writes to a file on the tmpfs until not one byte more fits.
func (s *tmpfsServer) fill() {
	s.t.Helper()
	diskfault.Fill(s.t, s.mnt)
}

func (s *tmpfsServer) free() {
	if err := os.Remove(filepath.Join(s.mnt, "fill")); err != nil {
		s.t.Fatal(err)
	}
}

type answer struct {
	status     int
	retryAfter string
	code, msg  string
	took       time.Duration
}

// setPresence writes a session of its own for user.
func (s *tmpfsServer) setPresence(tok, user, session string) answer {
	s.t.Helper()
	body := fmt.Sprintf(`{"sessionId":%q,"availability":"Busy","activity":"InACall","expirationDuration":"PT1H"}`, directory.DemoDaemonClientID+":"+session)
	return s.call("POST", "/v1.0/users/"+user+"@contoso.dev/presence/setPresence", tok, body)
}

func (s *tmpfsServer) call(method, path, tok, body string) answer {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, s.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), took: time.Since(start)}
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(raw, &e) == nil {
		a.code, a.msg = e.Error.Code, e.Error.Message
	}
	return a
}

// A full disk: writes fail at once with 503 serviceNotAvailable, a
// Retry-After and a message that says the storage is full and nothing was
// written (and indeed nothing was) — or, for the write that met the full
// disk and those in flight with it, that it may or may not have been
// stored — reads go on; when space is freed,
// writes succeed again without a restart. A restart on the full disk
// starts, and recovers the same way. The volume is 64 MiB: the server used
// to need 1.33 GiB free to start at all (the change log reserved 1 GiB).
func TestFullDiskFailsWritesFastAndRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	s := startInTmpfs(t, buildBinary(t), 64, 2)
	tok := daemonToken(t, http.DefaultClient, s.url)
	if a := s.setPresence(tok, "adele", "before"); a.status != 200 {
		t.Fatalf("before the disk is full: %+v", a)
	}

	// checkRefused writes until ten are refused and returns a refused one.
	checkRefused := func(when string) (user, session string) {
		t.Helper()
		refused := 0
		for i := 0; refused < 10; i++ {
			a := s.setPresence(tok, user_(i), fmt.Sprintf("%s-%d", when, i))
			// The engine answers a write in microseconds; its timeout
			// (what a full disk used to cost every write) is 5 s.
			if a.took > 2*time.Second {
				t.Fatalf("%s: write %d took %v: %+v", when, i, a.took, a)
			}
			switch {
			case a.status == 503 && a.code == "serviceNotAvailable" && a.retryAfter != "" && strings.Contains(a.msg, "storage filled while this write was under way: it may or may not have been stored"):
				// The write that met the full disk, or one in flight with
				// it: the engine may have stored it (store.ErrMaybeStored),
				// so it is not said that nothing was written.
			case a.status == 503:
				if a.code != "serviceNotAvailable" || a.retryAfter == "" || !strings.Contains(a.msg, "storage is full") || !strings.Contains(a.msg, "nothing was written") {
					t.Fatalf("%s: write %d refused with %+v", when, i, a)
				}
				refused++
				user, session = user_(i), fmt.Sprintf("%s-%d", when, i)
			case a.status == 200 && refused == 0 && i < 200:
				// It fit in space the engine's files already had; the
				// guard sees the volume full within a poll.
			default:
				t.Fatalf("%s: write %d on a full disk after %d refused: %+v", when, i, refused, a)
			}
		}
		if a := s.call("GET", "/v1.0/users/adele@contoso.dev/presence", tok, ""); a.status != 200 {
			t.Fatalf("%s: a read on a full disk: %+v", when, a)
		}
		return user, session
	}
	// notKept checks that a refused write left nothing: clearing its
	// session finds none.
	notKept := func(user, session string) {
		t.Helper()
		if a := s.call("POST", "/v1.0/users/"+user+"@contoso.dev/presence/clearPresence", tok,
			fmt.Sprintf(`{"sessionId":%q}`, directory.DemoDaemonClientID+":"+session)); a.status != 404 {
			t.Fatalf("clearPresence of the refused session %s of %s: %+v, want 404", session, user, a)
		}
	}
	checkRecovers := func(when string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for i := 0; ; i++ {
			a := s.setPresence(tok, "lynne", fmt.Sprintf("%s-after-%d", when, i))
			if a.status == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: writes still refused 20 s after space was freed: %+v", when, a)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	s.fill()
	user, session := checkRefused("full")
	s.free()
	checkRecovers("freed")
	notKept(user, session)

	// A restart on a full disk: it starts, serves reads, refuses writes.
	s.fill()
	if err := syscall.Kill(s.pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	s.await()
	tok = daemonToken(t, http.DefaultClient, s.url)
	user, session = checkRefused("restarted")
	s.free()
	checkRecovers("restarted")
	notKept(user, session)
}

func user_(i int) string { return demoUsers[i%len(demoUsers)] }

// A new server on a volume without room says how much it needs and why.
func TestStartWithoutRoomSaysWhatItNeeds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if err := exec.Command("unshare", "-rm", "true").Run(); err != nil {
		t.Skipf("needs unshare -rm (user and mount namespaces) to give the server a small volume of its own: %v", err)
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	script := `mount -t tmpfs -o size=16m tmpfs "$1" || exit 1
dd if=/dev/zero of="$1/fill" bs=1M count=15 2>/dev/null
exec "$2" serve --dev --addr 127.0.0.1:0 --data "$1/data"`
	out, err := exec.CommandContext(ctx, "unshare", "-rm", "sh", "-c", script, "sh", dir, bin).CombinedOutput()
	if err == nil {
		t.Fatalf("started on a volume with no room:\n%s", out)
	}
	for _, want := range []string{"a new engine needs at least 2.0 MiB", "1.0 MiB kept free", "--disk-reserve-mib"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("start-up error lacks %q:\n%s", want, out)
		}
	}
}
