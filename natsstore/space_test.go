package natsstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/diskfault"
	"github.com/presenced/presenced/store"
)

// The full-disk tests run in a user and mount namespace of their own
// (unshare -rm), where a small tmpfs is the engine's volume: the test binary
// runs itself there as TestFullDiskHelper.

const fullDirEnv = "NATSSTORE_FULL_DIR"

// inTmpfs runs the helper test named helper in a new user and mount
// namespace with a tmpfs of sizeMiB mounted on a directory it gets in
// fullDirEnv, and fails t with its output unless it passes.
func inTmpfs(t *testing.T, helper string, sizeMiB int) {
	t.Helper()
	inTmpfsOpts(t, helper, fmt.Sprintf("size=%dm", sizeMiB))
}

// inTmpfsOpts is inTmpfs with the tmpfs's mount options.
func inTmpfsOpts(t *testing.T, helper, opts string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a child process in a mount namespace")
	}
	if err := exec.Command("unshare", "-rm", "true").Run(); err != nil {
		t.Skipf("needs unshare -rm (user and mount namespaces) to give the engine a small volume of its own: %v", err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := `mount -t tmpfs -o ` + opts + ` tmpfs "$1" && shift && exec "$@"`
	cmd := exec.CommandContext(ctx, "unshare", "-rm", "sh", "-c", script, "sh", dir,
		os.Args[0], "-test.run=^"+helper+"$", "-test.count=1", "-test.v", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), fullDirEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+helper) {
		t.Fatalf("%s in a tmpfs (%s): %v\n%s", helper, opts, err, out)
	}
	t.Logf("%s", out)
}

// tmpfsDir is the helper's tmpfs, or skips the helper when it runs on its
// own rather than in parent.
func tmpfsDir(t *testing.T, parent string) string {
	dir := os.Getenv(fullDirEnv)
	if dir == "" {
		t.Skip("runs in " + parent)
	}
	return dir
}

// A stream that meets a full disk keeps failing in nats-server; here the
// write that met it fails at once with store.ErrFull (not after the 5 s
// timeout), so do the writes after it, and once space is freed the engine
// reloads its streams and writes succeed again, without a restart. The
// volume's free space is hidden from the guard (it would refuse the writes
// before the disk is full), so the engine meets the full disk itself.
func TestFullDiskFailsFastAndRecovers(t *testing.T) { inTmpfs(t, "TestFullDiskHelper", 16) }

func TestFullDiskHelper(t *testing.T) {
	dir := tmpfsDir(t, "TestFullDiskFailsFastAndRecovers")
	volumeOf = func(string) (uint64, uint64, error) { return 16 << 20, 8 << 20, nil }
	reloadAfter = time.Second
	ctx := context.Background()
	e := openT(t, Options{Dir: filepath.Join(dir, "engine")})
	kv := bucketT(t, e, "p")
	// A reader following a log goes on across the reload.
	lg, err := e.Log(ctx, "CHANGES", LogOptions{Subjects: []string{"chg.>"}})
	if err != nil {
		t.Fatal(err)
	}
	followed := make(chan string, 100)
	fctx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	go func() {
		for fctx.Err() == nil { // a reader retries, as notify's fanout does
			_ = lg.Follow(fctx, []string{"chg.>"}, 1, func(r store.Record) error { followed <- string(r.Data); return nil })
			time.Sleep(100 * time.Millisecond)
		}
	}()
	if _, err := lg.Append(ctx, "chg.a", []byte("before")); err != nil {
		t.Fatal(err)
	}
	val := make([]byte, 200)
	revs := map[string]uint64{}
	put := func(i int) (time.Duration, error) {
		key := fmt.Sprintf("key.%d", i%50)
		start := time.Now()
		rev, err := kv.Put(ctx, key, val, revs[key])
		if err == nil {
			revs[key] = rev
		}
		return time.Since(start), err
	}
	for i := range 50 {
		if _, err := put(i); err != nil {
			t.Fatal(err)
		}
	}
	path := diskfault.Fill(t, dir)
	failed := 0
	for i := 0; failed < 5; i++ {
		took, err := put(i)
		if took > 2*time.Second {
			t.Fatalf("write %d took %v (the engine's timeout is 5 s): %v", i, took, err)
		}
		if err != nil {
			if !errors.Is(err, store.ErrFull) {
				t.Fatalf("write %d on a full disk: %v, want store.ErrFull", i, err)
			}
			failed++
		} else if failed > 0 {
			t.Fatalf("write %d succeeded on a full disk after %d failed", i, failed)
		}
		if i > 100000 {
			t.Fatal("the disk never filled")
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		_, err := put(i)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still fail 30 s after space was freed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := range 50 {
		if _, err := put(i); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	}
	if _, err := lg.Append(ctx, "chg.a", []byte("after")); err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
	for got := ""; got != "after"; {
		select {
		case got = <-followed: // "before" (again, if the reader started over), then "after"
		case <-time.After(30 * time.Second):
			t.Fatal("the reader did not see the record appended after the reload within 30 s")
		}
	}
	// Everything acknowledged is there.
	for key, rev := range revs {
		if got, err := kv.Get(ctx, key); err != nil || got.Revision != rev {
			t.Fatalf("%s: %d %v, want revision %d", key, got.Revision, err, rev)
		}
	}
}

// With its free space visible, the guard refuses writes before the disk is
// full, and lets them through again when there is room.
func TestFullVolumeIsRefusedByTheGuard(t *testing.T) { inTmpfs(t, "TestFullVolumeHelper", 16) }

func TestFullVolumeHelper(t *testing.T) {
	dir := tmpfsDir(t, "TestFullVolumeIsRefusedByTheGuard")
	spacePoll = 20 * time.Millisecond
	ctx := context.Background()
	e := openT(t, Options{Dir: filepath.Join(dir, "engine")})
	kv := bucketT(t, e, "p")
	lg, err := e.Log(ctx, "CHANGES", LogOptions{Subjects: []string{"chg.>"}, MaxBytes: 4 << 20})
	if err != nil {
		t.Fatalf("a log of 4 MiB on a 16 MiB volume: %v", err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	path := diskfault.Fill(t, dir)
	for i := 0; ; i++ { // until the guard has seen the volume full
		if _, err := kv.Put(ctx, fmt.Sprintf("new.%d", i), []byte("v"), 0); errors.Is(err, store.ErrFull) {
			break
		} else if err != nil || i > 1000 {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if _, err := lg.Append(ctx, "chg.a", []byte("x")); !errors.Is(err, store.ErrFull) {
		t.Fatalf("append on a full volume: %v", err)
	}
	if err := kv.Delete(ctx, "k", 0); !errors.Is(err, store.ErrFull) {
		t.Fatalf("delete on a full volume: %v", err)
	}
	if _, err := kv.Get(ctx, "k"); err != nil {
		t.Fatalf("reads go on: %v", err)
	}
	os.Remove(path)
	waitFor(t, func() bool { _, err := kv.Put(ctx, "after", []byte("v"), 0); return err == nil })
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("not within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A new engine on a volume without room for it refuses to start, saying
// how much it needs and why; one with streams starts on a full volume.
func TestStartNeedsRoomOnlyForANewEngine(t *testing.T) { inTmpfs(t, "TestStartRoomHelper", 8) }

func TestStartRoomHelper(t *testing.T) {
	dir := tmpfsDir(t, "TestStartNeedsRoomOnlyForANewEngine")
	ctx := context.Background()
	old := filepath.Join(dir, "old")
	e, err := Open(ctx, Options{Dir: old})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bucketT(t, e, "p").Put(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	e.Close()
	diskfault.Fill(t, dir)
	_, err = Open(ctx, Options{Dir: filepath.Join(dir, "new")})
	if err == nil || !strings.Contains(err.Error(), "a new engine needs at least 2.0 MiB: 1.0 MiB kept free") {
		t.Fatalf("new engine on a full volume: %v", err)
	}
	e, err = Open(ctx, Options{Dir: old})
	if err != nil {
		t.Fatalf("an engine with streams on a full volume: %v", err)
	}
	defer e.Close()
	kv := bucketT(t, e, "p")
	if got, err := kv.Get(ctx, "k"); err != nil || string(got.Value) != "v" {
		t.Fatalf("read on a full volume: %v", err)
	}
	if _, err := kv.Put(ctx, "k2", []byte("v"), 0); !errors.Is(err, store.ErrFull) {
		t.Fatalf("write on a full volume: %v", err)
	}
}

// A volume out of inodes, with bytes to spare, is a full volume: writes
// are refused at once with store.ErrFull, reads go on, and writes succeed
// again once files can be made. Before, the guard looked at bytes only:
// writes went on until the engine needed a new block file, met ENOSPC,
// and the guard, seeing bytes free, reloaded the streams at once — which
// failed ("storage directory is not writable") and left JetStream off,
// reads failing too (seen operating the binary on a tmpfs with few inodes:
// every request answered "the presence engine did not answer").
func TestNoFreeInodesIsAFullVolume(t *testing.T) {
	inTmpfsOpts(t, "TestNoFreeInodesHelper", "size=64m,nr_inodes=400")
}

func TestNoFreeInodesHelper(t *testing.T) {
	dir := tmpfsDir(t, "TestNoFreeInodesIsAFullVolume")
	spacePoll = 20 * time.Millisecond
	ctx := context.Background()
	e := openT(t, Options{Dir: filepath.Join(dir, "engine")})
	kv := bucketT(t, e, "p")
	if _, err := kv.Put(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	// Use up the inodes.
	files := filepath.Join(dir, "files")
	if err := os.Mkdir(files, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		f, err := os.Create(filepath.Join(files, fmt.Sprint(i)))
		if err != nil {
			break
		}
		f.Close()
	}
	// Large values, so that the engine needs new block files.
	val := make([]byte, 64<<10)
	refused := false
	for i := 0; i < 600 && !refused; i++ {
		start := time.Now()
		_, err := kv.Put(ctx, fmt.Sprintf("new.%d", i), val, 0)
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("write %d took %v: %v", i, took, err)
		}
		switch {
		case errors.Is(err, store.ErrFull):
			refused = true
		case err != nil:
			t.Fatalf("write %d: %v, want store.ErrFull once the inodes are out", i, err)
		}
	}
	if !refused {
		t.Fatal("600 writes of 64 KiB with no inode free, none refused")
	}
	time.Sleep(10 * spacePoll) // polls, and a reload if one comes
	if _, err := kv.Put(ctx, "k", []byte("w"), 0); !errors.Is(err, store.ErrFull) {
		t.Fatalf("a write with no inode free: %v, want store.ErrFull", err)
	}
	if got, err := kv.Get(ctx, "k"); err != nil || string(got.Value) != "v" {
		t.Fatalf("a read with no inode free: %q %v", got.Value, err)
	}
	if err := os.RemoveAll(files); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := kv.Put(ctx, "after", []byte("v"), 0); return err == nil })
}
