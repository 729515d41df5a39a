package dirstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/dirstore"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

func heapNow() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// importUsers is how many users the benchmarks import:
// PRESENCED_IMPORT_USERS, default 100,000.
func importUsers(b *testing.B) int {
	v := os.Getenv("PRESENCED_IMPORT_USERS")
	if v == "" {
		return 100_000
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// benchUser is generated user i of contoso.dev, without a password.
func benchUser(i int) directory.UserEntry {
	return directory.UserEntry{ID: fmt.Sprintf("%08x-5ca1-4000-8000-%012x", i, i), TenantID: directory.DemoTenantID,
		UserPrincipalName: fmt.Sprintf("user%d@contoso.dev", i), DisplayName: fmt.Sprintf("User %d", i)}
}

// BenchmarkImport imports a directory file of N users (the demo plus N
// generated ones, no passwords: PRESENCED_IMPORT_USERS, default 100,000)
// into an engine on disk, then opens it again as a restart does. It
// reports the parse (dirstore.Decode, as the file streams in; and its
// ratio to the whole file decoded at once, as before, in the same run),
// the import (writing and switching the generation), the reopening, and
// the heap the directory and its bucket keep per user.
//
//	PRESENCED_IMPORT_USERS=1000000 go test -run '^$' -bench Import -benchtime 1x -timeout 0 ./dirstore/
func BenchmarkImport(b *testing.B) {
	n := importUsers(b)
	f := directory.DemoFile(0)
	for i := range n {
		f.Users = append(f.Users, benchUser(i))
	}
	data, err := json.Marshal(f)
	if err != nil {
		b.Fatal(err)
	}
	f = nil
	ctx := context.Background()
	for b.Loop() {
		dir := b.TempDir()
		h0 := heapNow()
		eng, err := natsstore.Open(ctx, natsstore.Options{Dir: dir, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		kv, err := eng.Bucket(ctx, "directory")
		if err != nil {
			b.Fatal(err)
		}
		s, err := dirstore.Open(ctx, dirstore.Options{KV: kv.(store.SerialKV), Clock: clock.Real{}, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		// The baseline, in the same run: the whole file decoded at once
		// (the JSON v2 decoder) and built, as imports were before they
		// streamed.
		start := time.Now()
		var all directory.File
		if err := jsonv2.Unmarshal(data, &all, jsonv2.RejectUnknownMembers(true)); err != nil {
			b.Fatal(err)
		}
		if _, err := directory.New(all.Tenants, all.Users, all.Applications); err != nil {
			b.Fatal(err)
		}
		whole := time.Since(start)
		all = directory.File{}
		h1 := heapNow()
		start = time.Now()
		parsed, sha, err := dirstore.Decode(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		parse := time.Since(start)
		start = time.Now()
		if err := s.Import(ctx, parsed, &dirstore.Source{Kind: "import", SHA256: sha}); err != nil {
			b.Fatal(err)
		}
		imp := time.Since(start)
		parsed = nil
		h2 := heapNow()
		s.Close()
		if err := eng.Close(); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		eng, err = natsstore.Open(ctx, natsstore.Options{Dir: dir, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		kv, _ = eng.Bucket(ctx, "directory")
		s, err = dirstore.Open(ctx, dirstore.Options{KV: kv.(store.SerialKV), Clock: clock.Real{}, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		reopen := time.Since(start)
		if got := s.Directory().UserCount(); got != n+7 {
			b.Fatalf("%d users after reopening", got)
		}
		h3 := heapNow()
		b.ReportMetric(parse.Seconds(), "parse-s")
		b.ReportMetric(parse.Seconds()/whole.Seconds(), "parse/whole-file")
		b.ReportMetric(imp.Seconds(), "import-s")
		b.ReportMetric(reopen.Seconds(), "reopen-s")
		b.ReportMetric(float64(int64(h2)-int64(h1))/float64(n), "heap-B/user")
		b.ReportMetric(float64(int64(h3)-int64(h0))/float64(n), "reopened-heap-B/user")
		b.Logf("%d users (%d MB of JSON): parse %v (whole-file decode %v), import %v, reopen %v; heap kept %.0f B/user after the import, %.0f after reopening (directory and engine)",
			n, len(data)>>20, parse.Round(time.Millisecond), whole.Round(time.Millisecond), imp.Round(time.Millisecond), reopen.Round(time.Millisecond),
			float64(int64(h2)-int64(h1))/float64(n), float64(int64(h3)-int64(h0))/float64(n))
		s.Close()
		eng.Close()
	}
}

// BenchmarkCreateUser creates users one at a time in a directory of N
// imported users (PRESENCED_IMPORT_USERS, default 100,000), as SCIM and
// Graph do: each is read back from the page it lands in, checked, written
// to the engine and applied to the in-memory directory incrementally. It
// reports the time of one creation and the heap each created user costs
// once the changes are folded into the compact tables.
//
//	PRESENCED_IMPORT_USERS=1000000 go test -run '^$' -bench CreateUser -benchtime 20000x -timeout 0 ./dirstore/
func BenchmarkCreateUser(b *testing.B) {
	n := importUsers(b)
	f := directory.DemoFile(0)
	for i := range n {
		f.Users = append(f.Users, benchUser(i))
	}
	ctx := context.Background()
	eng, err := natsstore.Open(ctx, natsstore.Options{Dir: b.TempDir(), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	kv, err := eng.Bucket(ctx, "directory")
	if err != nil {
		b.Fatal(err)
	}
	s, err := dirstore.Open(ctx, dirstore.Options{KV: kv.(store.SerialKV), Clock: clock.Real{}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Import(ctx, f, &dirstore.Source{Kind: "import"}); err != nil {
		b.Fatal(err)
	}
	f = nil
	h0 := heapNow()
	made := 0
	for b.Loop() {
		i := n + made
		if _, err := s.CreateUser(ctx, benchUser(i)); err != nil {
			b.Fatal(err)
		}
		made++
	}
	b.StopTimer()
	if got := s.Directory().UserCount(); got != n+7+made {
		b.Fatalf("%d users after creating %d", got, made)
	}
	// The changes are folded into the compact tables in the background.
	s.Directory().WaitFolds()
	b.ReportMetric(float64(int64(heapNow())-int64(h0))/float64(made), "heap-B/created-user")
}

// BenchmarkOpenSaved opens a directory of N users (PRESENCED_IMPORT_USERS,
// default 100,000) from its engine, as a restart did, and from its saved
// file (read, checked and built, then checked against the engine), both in
// each iteration so that their ratio is of the same run; the save's time
// and size are reported too.
//
//	PRESENCED_IMPORT_USERS=1000000 go test -run '^$' -bench OpenSaved -benchtime 3x -timeout 0 ./dirstore/
func BenchmarkOpenSaved(b *testing.B) {
	n := importUsers(b)
	f := directory.DemoFile(0)
	for i := range n {
		f.Users = append(f.Users, benchUser(i))
	}
	ctx := context.Background()
	eng, err := natsstore.Open(ctx, natsstore.Options{Dir: b.TempDir(), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	kv, err := eng.Bucket(ctx, "directory")
	if err != nil {
		b.Fatal(err)
	}
	s, err := dirstore.Open(ctx, dirstore.Options{KV: kv.(store.SerialKV), Clock: clock.Real{}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Import(ctx, f, &dirstore.Source{Kind: "import"}); err != nil {
		b.Fatal(err)
	}
	f = nil
	var saved bytes.Buffer
	start := time.Now()
	if _, _, err := s.WriteSnapshot(ctx, &saved); err != nil {
		b.Fatal(err)
	}
	save := time.Since(start)
	s.Close()
	var fromEngine, fromFile, build time.Duration
	for b.Loop() {
		runtime.GC()
		start := time.Now()
		e, err := dirstore.Open(ctx, dirstore.Options{KV: kv.(store.SerialKV), Clock: clock.Real{}, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		fromEngine += time.Since(start)
		e.Close()
		runtime.GC()
		start = time.Now()
		snap, err := dirstore.DecodeSnapshot(saved.Bytes())
		if err != nil {
			b.Fatal(err)
		}
		build += time.Since(start)
		fs, err := dirstore.Open(ctx, dirstore.Options{KV: kv.(store.SerialKV), Clock: clock.Real{}, Logger: quiet, Snapshot: snap})
		if err != nil {
			b.Fatal(err)
		}
		fromFile += time.Since(start)
		if fs.Directory().UserCount() != n+7 {
			b.Fatalf("%d users from the file", fs.Directory().UserCount())
		}
		fs.Close()
	}
	k := float64(b.N)
	b.ReportMetric(fromEngine.Seconds()/k, "engine-s")
	b.ReportMetric(fromFile.Seconds()/k, "file-s")
	b.ReportMetric(build.Seconds()/k, "file-build-s")
	b.ReportMetric(fromFile.Seconds()/fromEngine.Seconds(), "file/engine")
	b.ReportMetric(float64(saved.Len())/float64(n), "file-B/user")
	b.Logf("%d users: save %v (%d MB)", n, save.Round(time.Millisecond), saved.Len()>>20)
}
