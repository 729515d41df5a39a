package core_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
)

// TestReadEachShardByShard: ReadEach reads its users shard by shard
// (copyCached); each user's snapshot must still be that user's, in the
// order asked, whatever the mix — users cached, users only in the engine,
// users never written, the same user twice — over many shards, some with
// several users. The reference is Read, one user at a time, by a core
// that shares nothing with the one read.
func TestReadEachShardByShard(t *testing.T) {
	ctx := context.Background()
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	kv := bucket(t)
	reader := core.New(core.Options{KV: kv, Clock: fake})
	other := core.New(core.Options{KV: kv, Clock: fake})
	pairs := [][2]string{{"Busy", "InACall"}, {"Away", "Away"}, {"DoNotDisturb", "Presenting"}, {"Available", "Available"}}
	const n = 400 // ~200 of the 256 shards, many with two users or more
	us := make([]core.UserRef, 0, n+3)
	for i := range n {
		u := core.UserRef{TenantID: alice.TenantID, UserID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
		us = append(us, u)
		p := pairs[i%len(pairs)]
		switch i % 3 {
		case 0: // written through the reader: cached there
			if _, _, err := reader.Do(ctx, u, set(fmt.Sprint("s", i%5), p[0], p[1])); err != nil {
				t.Fatal(err)
			}
		case 1: // written through another core: only in the engine for the reader
			if _, _, err := other.Do(ctx, u, set(fmt.Sprint("s", i%7), p[0], p[1])); err != nil {
				t.Fatal(err)
			}
		} // 2: never written
	}
	us = append(us, us[3], us[4], us[5]) // asked twice
	slices.Reverse(us)                   // not in the order written
	ref := core.New(core.Options{KV: kv, Clock: fake})
	want := make([]core.Snapshot, len(us))
	for i, u := range us {
		s, err := ref.Read(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = s
	}
	for round := range 2 { // the second: every user cached by the first
		got, err := readEachAll(ctx, reader, us)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: %d snapshots, want %d", round, len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i].Facts.Sessions, want[i].Facts.Sessions) && (len(got[i].Facts.Sessions) != 0 || len(want[i].Facts.Sessions) != 0) ||
				got[i].User != want[i].User || got[i].View != want[i].View || got[i].Seq != want[i].Seq {
				t.Fatalf("round %d, user %d (%s):\n%+v\nwant (Read)\n%+v", round, i, us[i].UserID, got[i], want[i])
			}
		}
	}
}
