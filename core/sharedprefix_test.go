package core

import (
	"context"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/presence"
)

// fourSessions is the load tool's user: four sessions of one app.
func fourSessions() presence.Facts {
	now := time.Date(2026, 12, 3, 9, 0, 0, 123456789, time.UTC)
	const app = "6dcddc99-5a7f-430c-a555-551d652a37b1"
	pairs := []presence.Pair{{Availability: presence.Available, Activity: presence.Available}, {Availability: presence.Busy, Activity: presence.InACall}, {Availability: presence.Away, Activity: presence.Away}, {Availability: presence.DoNotDisturb, Activity: presence.Presenting}}
	var f presence.Facts
	for k, p := range pairs {
		at := now.Add(time.Duration(k) * time.Second)
		f.Sessions = append(f.Sessions, presence.Session{ID: app + ":s" + string(rune('0'+k)), Pair: p, RefreshedAt: at, ExpiresAt: at.Add(time.Hour)})
	}
	f.Seq = presence.Stamp{At: now.Add(3 * time.Second).UnixNano(), N: 1}
	f.LastWrite = now.Add(3 * time.Second)
	return f
}

// goldenFourSessions is fourSessions in the engine's form: the first id
// written out, each next one as the 38 bytes it shares with the previous
// (k = 39 = 0x27) and its last byte: 153 bytes instead of 267. Values in
// this form are on disk from this version on: if this test fails, the
// layout changed.
const goldenFourSessions = "" +
	"0104" + // version, 4 sessions
	"002736646364646339392d356137662d343330632d613535352d3535316436353261333762313a7330010101aab49bb88cb2d9ed31028080c58bc6d101" + // id in full, pair, times
	"270131050b01aadcf1f193b2d9ed31028080c58bc6d101" + // 38 bytes of the previous id, then "1"
	"270132030301aa84c8ab9bb2d9ed31028080c58bc6d101" +
	"270133071101aaac9ee5a2b2d9ed31028080c58bc6d101" +
	"aaac9ee5a2b2d9ed310101aaac9ee5a2b2d9ed3100" // seq, lastWrite, no parts

// oldFourSessions is the same facts as versions before shared prefixes
// wrote them, every id in full (main at 4d943f3): such values are on disk
// and read as they were.
const oldFourSessions = "" +
	"0104" +
	"002736646364646339392d356137662d343330632d613535352d3535316436353261333762313a7330010101aab49bb88cb2d9ed31028080c58bc6d101" +
	"002736646364646339392d356137662d343330632d613535352d3535316436353261333762313a7331050b01aadcf1f193b2d9ed31028080c58bc6d101" +
	"002736646364646339392d356137662d343330632d613535352d3535316436353261333762313a7332030301aa84c8ab9bb2d9ed31028080c58bc6d101" +
	"002736646364646339392d356137662d343330632d613535352d3535316436353261333762313a7333071101aaac9ee5a2b2d9ed31028080c58bc6d101" +
	"aaac9ee5a2b2d9ed310101aaac9ee5a2b2d9ed3100"

// One app's sessions share their ids' prefix in the engine's form, and
// both that form and the older one read back as the facts.
func TestStoredSharedPrefix(t *testing.T) {
	f := fourSessions()
	v := encodeStored(f)
	if got := hex.EncodeToString(v); got != goldenFourSessions {
		t.Errorf("the engine's form of four sessions of one app:\n got %s\nwant %s", got, goldenFourSessions)
	}
	for name, h := range map[string]string{"shared prefixes": goldenFourSessions, "ids in full": oldFourSessions} {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeStored(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("%s: reads as\n%+v\nwant\n%+v", name, got, f)
		}
	}
	// The cache's form numbers ids instead, and reads no shared prefix.
	var tab sessionIDTable
	if got, err := tab.cache().decode(string(tab.cache().appendFacts(nil, f))); err != nil || !reflect.DeepEqual(got, f) {
		t.Errorf("cache form: %v\n%+v", err, got)
	}
}

// A shared prefix that is too short, longer than the previous id, on the
// first session, or past the value's end is refused, not misread.
func TestStoredSharedPrefixBad(t *testing.T) {
	good, err := hex.DecodeString(goldenFourSessions)
	if err != nil {
		t.Fatal(err)
	}
	second := len(good) - 3*23 - 21 // the second session's k
	if good[second] != 0x27 {
		t.Fatalf("layout: byte %d is %#x, want 0x27", second, good[second])
	}
	for name, edit := range map[string]func([]byte) []byte{
		"too short":      func(v []byte) []byte { v[second] = minSharedPrefix; return v }, // k-1 < minSharedPrefix
		"longer than it": func(v []byte) []byte { v[second] = 0x29; return v },            // 40 bytes of a 39-byte id
		"first session":  func(v []byte) []byte { v[2] = 0x27; return v },
		"past the end":   func(v []byte) []byte { v[second+1] = 0x7f; return v },
		"in the cache":   nil,
	} {
		v := append([]byte(nil), good...)
		var err error
		if edit == nil {
			var tab sessionIDTable
			_, err = tab.cache().decode(string(v))
		} else {
			_, err = decodeStored(edit(v))
		}
		if !errors.Is(err, errCompact) {
			t.Errorf("%s: err %v, want errCompact", name, err)
		}
	}
}

// A user stored with every id in full (before shared prefixes) loads from
// the engine as it was; its next write stores the shorter form, which a
// fresh core (a restart) reads back as the write left it.
func TestStoredOldSessionsLoad(t *testing.T) {
	ctx := context.Background()
	kv := openTestBucket(t)
	f := fourSessions()
	fake := clock.NewFake(f.LastWrite.Add(time.Minute))
	u := UserRef{TenantID: "a5036a1a-166f-4ed5-bf5a-e0ccc1602604", UserID: "3c16299b-70fb-4ef1-ac29-a2c2738ae1e3"}
	old, err := hex.DecodeString(oldFourSessions)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, u.Key(), old, 0); err != nil {
		t.Fatal(err)
	}
	c := New(Options{KV: kv, Clock: fake})
	got, err := c.Read(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Facts, f) {
		t.Fatalf("Read of a value with ids in full:\n%+v\nwant\n%+v", got.Facts, f)
	}
	snap, _, err := c.Do(ctx, u, presence.SetPresence{SessionID: f.Sessions[1].ID, Pair: presence.Pair{Availability: presence.Away, Activity: presence.Away}, Expiration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, u.Key())
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Value) >= len(old)-3*37 {
		t.Fatalf("rewritten in %d bytes (%x), want the ids' shared prefixes (< %d)", len(e.Value), e.Value, len(old)-3*37)
	}
	again, err := New(Options{KV: kv, Clock: fake}).Read(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Facts, snap.Facts) || len(again.Facts.Sessions) != 4 {
		t.Fatalf("after a restart:\n%+v\nthe write answered\n%+v", again.Facts, snap.Facts)
	}
}
