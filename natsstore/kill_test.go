package natsstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The kill test re-executes this test binary as a writer child process
// (TestHelperProcess), SIGKILLs it while writes are in flight, and checks
// that every write the child saw acknowledged is on disk.

const (
	helperEnv      = "NATSSTORE_HELPER_DIR"
	helperSyncEnv  = "NATSSTORE_HELPER_SYNC_ALWAYS"
	killWriters    = 4
	killBucket     = "kill"
	killAfterAcked = 3000
)

// TestHelperProcess is the child: it writes until killed and prints
// "key revision value" after each acknowledged write.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process for TestKillDurability")
	}
	ctx := context.Background()
	e, err := Open(ctx, Options{Dir: dir, SyncAlways: os.Getenv(helperSyncEnv) == "1"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	kv, err := e.Bucket(ctx, killBucket)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	ack := func(key string, rev uint64, val string) {
		mu.Lock()
		defer mu.Unlock()
		// One write(2) per line, straight to the pipe, after the ack.
		if _, err := fmt.Fprintf(os.Stdout, "%s %d %s\n", key, rev, val); err != nil {
			os.Exit(3)
		}
	}
	var wg sync.WaitGroup
	for w := range killWriters {
		wg.Go(func() {
			// Each writer creates fresh keys and updates its own hot key, so
			// both appends of new subjects and replacements are covered.
			hot := fmt.Sprintf("hot.%d", w)
			var hotRev uint64
			for i := 0; ; i++ {
				key := fmt.Sprintf("k.%d.%d", w, i)
				val := strconv.Itoa(i)
				rev, err := kv.Put(ctx, key, []byte(val), 0)
				if err != nil {
					fmt.Fprintln(os.Stderr, "helper put:", err)
					os.Exit(4)
				}
				ack(key, rev, val)
				rev, err = kv.Put(ctx, hot, []byte(val), hotRev)
				if err != nil {
					fmt.Fprintln(os.Stderr, "helper update:", err)
					os.Exit(4)
				}
				hotRev = rev
				ack(hot, rev, val)
			}
		})
	}
	wg.Wait()
}

type ackd struct {
	rev uint64
	val string
}

func TestKillDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	for _, syncAlways := range []bool{false, true} {
		t.Run(fmt.Sprintf("SyncAlways=%v", syncAlways), func(t *testing.T) {
			for round := range 3 {
				killRound(t, syncAlways, round)
			}
		})
	}
}

func killRound(t *testing.T, syncAlways bool, round int) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.timeout=5m")
	env := append(os.Environ(), helperEnv+"="+dir)
	if syncAlways {
		env = append(env, helperSyncEnv+"=1")
	}
	cmd.Env = env
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	// Key -> latest acknowledged write. Revisions per key only grow, so the
	// last line for a key is its latest ack.
	acked := make(map[string]ackd)
	lines := 0
	sc := bufio.NewScanner(out)
	parse := func(line string) {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("bad helper line %q", line)
		}
		rev, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("bad helper line %q", line)
		}
		if prev, ok := acked[f[0]]; ok && prev.rev >= rev {
			t.Fatalf("revision of %s went from %d to %d", f[0], prev.rev, rev)
		}
		acked[f[0]] = ackd{rev, f[2]}
		lines++
	}
	target := killAfterAcked + round*777 // vary the moment of death
	for lines < target && sc.Scan() {
		parse(sc.Text())
	}
	if lines < target {
		t.Fatalf("helper stopped after %d acks: %v", lines, sc.Err())
	}
	// SIGKILL: no deferred flush, no Close, no chance to sync.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	// Lines already in the pipe were acknowledged before the kill too.
	for sc.Scan() {
		parse(sc.Text())
	}
	cmd.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer e.Close()
	kv, err := e.Bucket(ctx, killBucket)
	if err != nil {
		t.Fatal(err)
	}
	lost, newer := 0, 0
	for key, a := range acked {
		got, err := kv.Get(ctx, key)
		switch {
		case err != nil:
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged %s@%d=%s lost: %v", key, a.rev, a.val, err)
			}
		case got.Revision == a.rev && string(got.Value) == a.val:
		case got.Revision > a.rev && strings.HasPrefix(key, "hot."):
			// A later write landed but its ack never reached us: fine.
			newer++
		default:
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged %s@%d=%s, found %s@%d", key, a.rev, a.val, got.Value, got.Revision)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("round %d: %d of %d acknowledged keys lost or wrong after SIGKILL", round, lost, len(acked))
	}
	t.Logf("round %d: %d acked writes (%d keys) all present after SIGKILL; %d hot keys ahead of their last ack", round, lines, len(acked), newer)
}
