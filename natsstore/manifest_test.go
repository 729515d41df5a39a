package natsstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/diskfault"
	"github.com/presenced/presenced/store"
)

func TestCheckRules(t *testing.T) {
	kv := func(msgs, last uint64) Recorded { return Recorded{Msgs: msgs, Bytes: msgs * 100, LastSeq: last} }
	log := func(msgs, last uint64) Recorded { return Recorded{Msgs: msgs, LastSeq: last, Limited: true} }
	st := func(name string, msgs, last uint64, limited bool) StreamState {
		return StreamState{Name: name, Msgs: msgs, Bytes: msgs * 100, LastSeq: last, Limited: limited}
	}
	for _, c := range []struct {
		rule            string
		manifest        map[string]Recorded // nil: no manifest
		states          []StreamState
		damaged, loss   bool   // Damaged(), Durable()
		report, lostMsg string // in the stream's line; "" = anything
	}{
		{"a stream holding what the manifest recorded is whole",
			map[string]Recorded{"KV_p": kv(5, 15)}, []StreamState{st("KV_p", 5, 15, false)}, false, false, "KV_p: ok", ""},
		{"a stream holding more than the manifest recorded is whole (written since)",
			map[string]Recorded{"KV_p": kv(5, 15)}, []StreamState{st("KV_p", 9, 40, false)}, false, false, "KV_p: ok", ""},
		{"a bucket holding fewer records than recorded lost them",
			map[string]Recorded{"KV_p": kv(5, 15)}, []StreamState{st("KV_p", 0, 15, false)}, true, true, "KV_p: DAMAGED", "5 messages lost"},
		{"a stream whose last sequence went back lost its newest records",
			map[string]Recorded{"KV_p": kv(5, 15)}, []StreamState{st("KV_p", 5, 7, false)}, true, true, "KV_p: DAMAGED", "the last 8 sequences are gone"},
		{"a log's count falls on its own (age, size): not damage",
			map[string]Recorded{"CHANGES": log(100, 100)}, []StreamState{st("CHANGES", 0, 100, true)}, false, false, "CHANGES: ok", ""},
		{"a log's last sequence going back is damage",
			map[string]Recorded{"CHANGES": log(100, 100)}, []StreamState{st("CHANGES", 10, 60, true)}, true, true, "CHANGES: DAMAGED", "the last 40 sequences are gone"},
		{"a stream gone from the engine lost everything recorded",
			map[string]Recorded{"KV_p": kv(5, 15)}, nil, true, true, "KV_p: MISSING", "5 messages (500 bytes) up to sequence 15"},
		{"a stream not in the manifest is new",
			map[string]Recorded{}, []StreamState{st("KV_new", 3, 3, false)}, false, false, "KV_new: ok", ""},
		{"without a manifest nothing is compared",
			nil, []StreamState{st("KV_p", 0, 0, false)}, false, false, "KV_p: ok", ""},
		{"records the engine dropped after the manifest are damage, not a durable loss",
			map[string]Recorded{"KV_p": kv(5, 15)}, []StreamState{{Name: "KV_p", Msgs: 5, LastSeq: 16, LostMsgs: []uint64{17}, LostBytes: 90}}, true, false, "KV_p: DAMAGED", "dropped 1 unreadable messages (90 bytes)"},
		{"records the engine dropped that the manifest vouched for are a durable loss",
			map[string]Recorded{"KV_p": kv(5, 15)}, []StreamState{{Name: "KV_p", Msgs: 5, LastSeq: 16, LostMsgs: []uint64{12}, LostBytes: 90}}, true, true, "KV_p: DAMAGED", "dropped 1"},
		{"unreadable bytes without a sequence (a torn tail) are damage",
			nil, []StreamState{{Name: "KV_p", Msgs: 5, LastSeq: 5, LostBytes: 40}}, true, false, "KV_p: DAMAGED", "(40 bytes)"},
	} {
		t.Run(c.rule, func(t *testing.T) {
			m := Manifest{Streams: c.manifest}
			rep := Check(m, c.manifest != nil, c.states)
			if rep.Damaged() != c.damaged || rep.Durable() != c.loss {
				t.Fatalf("Damaged %v Durable %v, want %v %v: %+v", rep.Damaged(), rep.Durable(), c.damaged, c.loss, rep)
			}
			if len(rep.Streams) != 1 {
				t.Fatalf("%d stream reports, want 1", len(rep.Streams))
			}
			line := rep.Streams[0].String()
			if !strings.HasPrefix(line, c.report) || !strings.Contains(line, c.lostMsg) {
				t.Fatalf("%q, want %q … %q", line, c.report, c.lostMsg)
			}
		})
	}
}

// After an accepted loss the manifest vouches for what both it and the
// engine have: the loss is not reported again, and nothing new is claimed.
func TestAcceptKeepsTheLesser(t *testing.T) {
	m := Manifest{Streams: map[string]Recorded{"KV_p": {Msgs: 5, Bytes: 500, LastSeq: 15}, "KV_gone": {Msgs: 2, LastSeq: 2}}}
	states := []StreamState{{Name: "KV_p", Msgs: 3, Bytes: 600, LastSeq: 20}, {Name: "KV_new", Msgs: 1, LastSeq: 1}}
	got := m.Accept(states)
	want := Recorded{Msgs: 3, Bytes: 500, LastSeq: 15}
	if len(got.Streams) != 1 || got.Streams["KV_p"] != want {
		t.Fatalf("Accept: %+v, want only KV_p %+v", got.Streams, want)
	}
	if Check(got, true, states).Damaged() {
		t.Fatal("the accepted state is reported again")
	}
}

func TestManifestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	if _, found, err := ReadManifest(path); found || err != nil {
		t.Fatalf("no file: found %v err %v", found, err)
	}
	m := Manifest{Streams: map[string]Recorded{"KV_p": {Msgs: 5, Bytes: 500, LastSeq: 15}, "CHANGES": {LastSeq: 9, Limited: true}}}
	if err := WriteManifest(path, m); err != nil {
		t.Fatal(err)
	}
	got, found, err := ReadManifest(path)
	if err != nil || !found || fmt.Sprint(got) != fmt.Sprint(m) {
		t.Fatalf("read back %+v %v %v, want %+v", got, found, err, m)
	}
	for _, bad := range []string{"{", `{"version":2,"streams":{}}`} {
		os.WriteFile(path, []byte(bad), 0o600)
		_, found, err := ReadManifest(path)
		if !found || err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: found %v err %v, want an error naming the file", bad, found, err)
		}
		if newer := strings.Contains(bad, `"version":2`); errors.Is(err, ErrNewerManifest) != newer {
			t.Errorf("%q: %v, ErrNewerManifest %v", bad, err, newer)
		}
	}
}

// The manifest trails the engine by its sync interval: it never vouches
// for a write a power loss may still take.
func TestManifestLag(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want time.Duration
	}{
		{Options{SyncAlways: true}, 0},
		{Options{}, 2*time.Minute + syncMargin},
		{Options{SyncInterval: 5 * time.Second}, 5*time.Second + syncMargin},
	} {
		if got := c.o.manifestLag(); got != c.want {
			t.Errorf("%+v: lag %v, want %v", c.o, got, c.want)
		}
	}
}

// fillBucket writes keys key.0 … key.n-1 rounds times each (the older
// revisions replaced, as presence records are).
func fillBucket(t *testing.T, kv store.KV, n, rounds int) {
	t.Helper()
	ctx := ctxT(t)
	revs := make([]uint64, n)
	for r := range rounds {
		for i := range n {
			rev, err := kv.Put(ctx, fmt.Sprintf("key.%d", i), []byte(fmt.Sprintf("value %d of key %d, long enough to be a record", r, i)), revs[i])
			if err != nil {
				t.Fatal(err)
			}
			revs[i] = rev
		}
	}
}

// Close records the engine in the manifest; damaged or deleted files found
// at the next open are a loss against it, which the engine's own recovery
// does not report (it truncates a bad block and rebuilds without a word).
func TestDamageIsFoundAgainstTheManifest(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"16 bytes flipped in the last block, rebuilt as after a crash", func(t *testing.T, dir string) {
			blk := diskfault.LastBlock(t, dir, "KV_p")
			diskfault.FlipMiddle(t, blk, 16)
			os.Remove(filepath.Join(filepath.Dir(blk), "index.db"))
		}},
		{"last block emptied", func(t *testing.T, dir string) { os.Truncate(diskfault.LastBlock(t, dir, "KV_p"), 0) }},
		{"stream directory deleted", func(t *testing.T, dir string) { os.RemoveAll(diskfault.StreamDir(dir, "KV_p")) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "manifest.json")
			e, err := Open(ctxT(t), Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			fillBucket(t, bucketT(t, e, "p"), 5, 3)
			bucketT(t, e, "other")
			if err := e.KeepManifest(path, Manifest{}); err != nil {
				t.Fatal(err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			m, found, err := ReadManifest(path)
			if err != nil || !found || m.Streams["KV_p"] != (Recorded{Msgs: 5, Bytes: m.Streams["KV_p"].Bytes, LastSeq: 15}) {
				t.Fatalf("manifest after Close: %+v %v %v", m, found, err)
			}
			c.damage(t, dir)
			e2 := openT(t, Options{Dir: dir})
			states, err := e2.Streams(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			rep := Check(m, true, states)
			if !rep.Durable() {
				t.Fatalf("no loss found: %+v", rep)
			}
			for _, r := range rep.Streams {
				if r.Damaged() != (r.Name == "KV_p") {
					t.Errorf("%s", r)
				}
			}
		})
	}
}

// With SyncAlways every acknowledged write is on disk, so checkpoints
// record the engine as it is, without waiting for a sync.
func TestCheckpointsRecordWritesWithSyncAlways(t *testing.T) {
	defer func(d time.Duration) { checkpointEvery = d }(checkpointEvery)
	checkpointEvery = 20 * time.Millisecond
	dir := t.TempDir()
	path := filepath.Join(dir, "manifest.json")
	e := openT(t, Options{Dir: dir, SyncAlways: true})
	kv := bucketT(t, e, "p")
	if err := e.KeepManifest(path, Manifest{}); err != nil {
		t.Fatal(err)
	}
	fillBucket(t, kv, 3, 2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, _, err := ReadManifest(path)
		if err == nil && m.Streams["KV_p"].LastSeq == 6 && m.Streams["KV_p"].Msgs == 3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("manifest %+v %v: the writes were not recorded in 10 s", m, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Without a manifest, what the engine holds is vouched for by nothing:
// Unvouched counts it, so that a start can refuse to go on as if whole.
func TestUnvouched(t *testing.T) {
	held := []StreamState{{Name: "KV_p", Msgs: 5, LastSeq: 15}, {Name: "KV_empty"}, {Name: "CHANGES", Msgs: 0, LastSeq: 9, Limited: true}}
	for _, c := range []struct {
		name             string
		found            bool
		states           []StreamState
		streams, records int
	}{
		{"a new engine, no manifest yet", false, nil, 0, 0},
		{"empty streams, no manifest", false, []StreamState{{Name: "KV_empty"}}, 0, 0},
		{"records, no manifest", false, held, 2, 5},
		{"records and a manifest", true, held, 0, 0},
	} {
		s, r := Check(Manifest{}, c.found, c.states).Unvouched()
		if s != c.streams || r != uint64(c.records) {
			t.Errorf("%s: %d streams %d records, want %d %d", c.name, s, r, c.streams, c.records)
		}
	}
}
