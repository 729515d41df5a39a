package core

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, wherever the tests run

	"github.com/presenced/presenced/presence"
)

// zones are the locations random times are in. Named zones and Local are
// used only from 1970 on: before, many had offsets with seconds (local
// mean time), which JSON cannot write (it drops the seconds).
var zones = func() (named, fixed []*time.Location) {
	named = []*time.Location{time.Local}
	for _, n := range []string{"America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe", "Europe/London"} {
		l, err := time.LoadLocation(n)
		if err != nil {
			panic(err)
		}
		named = append(named, l)
	}
	fixed = []*time.Location{time.UTC, time.FixedZone("", 0), time.FixedZone("", 3600), time.FixedZone("", -(3*3600 + 30*60)),
		time.FixedZone("CET", 3600), time.FixedZone("", 14*3600), time.FixedZone("", -(23*3600 + 59*60))}
	return named, fixed
}

var namedZones, fixedZones = zones()

// randomTime is a time that JSON can write (years 0–9999 in its zone,
// offsets in whole minutes under 24 hours), of every kind the layout
// has: zero, with a monotonic reading, UTC or in a zone, beyond UnixNano,
// and after base (zero: none).
func randomTime(r *rand.Rand, base time.Time) time.Time {
	switch r.IntN(12) {
	case 0:
		return time.Time{}
	case 1:
		return time.Now().Add(time.Duration(r.Int64N(int64(time.Hour)))) // monotonic
	case 2:
		return time.Date(r.IntN(10000), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e9), fixedZones[r.IntN(len(fixedZones))])
	case 3, 4, 5, 6:
		if !base.IsZero() {
			t := base.Add(time.Duration(r.Int64N(int64(300 * 24 * time.Hour))))
			if r.IntN(3) == 0 && t.Year() >= 1970 {
				t = t.In(namedZones[r.IntN(len(namedZones))])
			}
			if t.Year() <= 9999 {
				return t
			}
		}
	}
	t := time.Unix(1_700_000_000+r.Int64N(1_000_000_000), r.Int64N(1e9))
	if r.IntN(2) == 0 {
		return t.UTC()
	}
	return t.In(append(namedZones, fixedZones...)[r.IntN(len(namedZones)+len(fixedZones))])
}

func randomString(r *rand.Rand) string {
	switch r.IntN(6) {
	case 0:
		return ""
	case 1:
		return values[r.IntN(len(values))]
	case 2:
		return "über 🎉 " + strings.Repeat("x", r.IntN(300))
	case 3:
		return "6dcddc99-5a7f-430c-a555-551d652a37b1:" + string(rune('a'+r.IntN(26)))
	default:
		b := make([]byte, r.IntN(20))
		for i := range b {
			b[i] = byte(' ' + r.IntN(95))
		}
		return string(b)
	}
}

func randomPair(r *rand.Rand) presence.Pair {
	return presence.Pair{Availability: randomString(r), Activity: randomString(r)}
}

// randomFacts are facts that JSON can write: every field, set or not,
// with times of every kind.
func randomFacts(r *rand.Rand) presence.Facts {
	var f presence.Facts
	if n := r.IntN(4); n > 0 || r.IntN(2) == 0 {
		f.Sessions = make([]presence.Session, n) // sometimes empty, not nil
		for i := range f.Sessions {
			at := randomTime(r, time.Time{})
			f.Sessions[i] = presence.Session{ID: randomString(r), Pair: randomPair(r), RefreshedAt: at, ExpiresAt: randomTime(r, at)}
		}
	}
	if r.IntN(3) == 0 {
		at := randomTime(r, time.Time{})
		f.Preferred = &presence.Preferred{Pair: randomPair(r), SetAt: at, ExpiresAt: randomTime(r, at)}
	}
	if r.IntN(3) == 0 {
		at := randomTime(r, time.Time{})
		m := &presence.StatusMessage{Content: randomString(r), ContentType: randomString(r), PublishedAt: at, ExpiresAt: randomTime(r, at)}
		if r.IntN(2) == 0 {
			m.Expiry = &presence.DateTimeTimeZone{DateTime: randomString(r), TimeZone: randomString(r)}
		}
		f.Status = m
	}
	if n := r.IntN(4); n > 0 || r.IntN(4) == 0 {
		f.Events = make([]presence.Event, n)
		for i := range f.Events {
			at := randomTime(r, time.Time{})
			f.Events[i] = presence.Event{Start: at, End: randomTime(r, at), ShowAs: randomString(r), IsMeeting: r.IntN(2) == 0, IsAllDay: r.IntN(2) == 0}
		}
	}
	if r.IntN(3) == 0 {
		at := randomTime(r, time.Time{})
		f.AutoReplies = &presence.AutoReplies{Status: randomString(r), ScheduledStart: at, ScheduledEnd: randomTime(r, at), InternalReplyMessage: randomString(r)}
	}
	if r.IntN(2) == 0 {
		w := &presence.WorkLocations{}
		signal := func() *presence.LocationSignal {
			at := randomTime(r, time.Time{})
			return &presence.LocationSignal{Type: randomString(r), PlaceID: randomString(r), SetAt: at, Until: randomTime(r, at)}
		}
		switch r.IntN(4) {
		case 0:
			w.Manual = signal()
		case 1:
			w.Automatic = signal()
		case 2:
			w.Manual, w.Automatic = signal(), signal()
		}
		for range r.IntN(3) + 1 - min(1, r.IntN(4)) {
			at := randomTime(r, time.Time{})
			w.Scheduled = append(w.Scheduled, presence.ScheduledLocation{Start: at, End: randomTime(r, at), Type: randomString(r), PlaceID: randomString(r)})
		}
		if w.Manual != nil || w.Automatic != nil || len(w.Scheduled) > 0 {
			f.Location = w
		}
	}
	if r.IntN(3) == 0 {
		f.CalendarUntil = randomTime(r, time.Time{})
		f.CalendarRev = r.Uint64() >> r.IntN(64)
	}
	f.Seq = presence.Stamp{At: int64(r.Uint64()), N: r.Uint32()}
	f.LastWrite = randomTime(r, time.Time{})
	return f
}

func jsonRoundTrip(t testing.TB, f presence.Facts) presence.Facts {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatalf("JSON cannot write the test's facts: %v", err)
	}
	var g presence.Facts
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// inUTC is f with every time in UTC: what the cache's form keeps.
func inUTC(f presence.Facts) presence.Facts {
	utc := func(t *time.Time) { *t = t.UTC() }
	for i := range f.Sessions {
		utc(&f.Sessions[i].RefreshedAt)
		utc(&f.Sessions[i].ExpiresAt)
	}
	if p := f.Preferred; p != nil {
		utc(&p.SetAt)
		utc(&p.ExpiresAt)
	}
	if m := f.Status; m != nil {
		utc(&m.PublishedAt)
		utc(&m.ExpiresAt)
	}
	for i := range f.Events {
		utc(&f.Events[i].Start)
		utc(&f.Events[i].End)
	}
	if a := f.AutoReplies; a != nil {
		utc(&a.ScheduledStart)
		utc(&a.ScheduledEnd)
	}
	if w := f.Location; w != nil {
		for _, s := range []*presence.LocationSignal{w.Manual, w.Automatic} {
			if s != nil {
				utc(&s.SetAt)
				utc(&s.Until)
			}
		}
		for i := range w.Scheduled {
			utc(&w.Scheduled[i].Start)
			utc(&w.Scheduled[i].End)
		}
	}
	utc(&f.CalendarUntil)
	utc(&f.LastWrite)
	return f
}

// checkRoundTrip: the engine's form reads back exactly what JSON reads
// back (the form it replaces), and the cache's form the same in UTC.
func checkRoundTrip(t *testing.T, f presence.Facts) {
	t.Helper()
	want := jsonRoundTrip(t, f)
	v := encodeStored(f)
	got, err := decodeStored(v)
	if err != nil {
		t.Fatalf("decode %x: %v\nfacts %+v", v, err, f)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stored form of\n%+v\nreads back as\n%+v\nJSON reads back\n%+v", f, got, want)
	}
	var tab sessionIDTable
	got, err = tab.cache().decode(string(tab.cache().appendFacts(nil, f)))
	if err != nil {
		t.Fatal(err)
	}
	if want := inUTC(want); !reflect.DeepEqual(got, want) {
		t.Fatalf("cache form of\n%+v\nreads back as\n%+v\nwant\n%+v", f, got, want)
	}
}

// Random facts of every shape read back from the engine's form exactly as
// from JSON: instants to the nanosecond, UTC offsets and locations as JSON
// keeps them, no monotonic clock.
func TestStoredRoundTrip(t *testing.T) {
	if tz := os.Getenv("PRESENCED_TEST_TZ"); tz != "" {
		if _, off := time.Now().Zone(); off == 0 || time.Local.String() != tz {
			t.Fatalf("TZ=%s did not apply: Local is %s, offset %d", tz, time.Local, off)
		}
	}
	r := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	for range 5000 {
		checkRoundTrip(t, randomFacts(r))
	}
}

// The same where time.Local is a zone with an offset (JSON then reads
// times at Local's offset as Local): in a child process, as the local
// zone is chosen once per process.
func TestStoredRoundTripInLocalZones(t *testing.T) {
	if os.Getenv("PRESENCED_TEST_TZ") != "" {
		t.Skip("in the child")
	}
	for _, tz := range []string{"America/New_York", "Asia/Kolkata"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStoredRoundTrip$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "TZ="+tz, "PRESENCED_TEST_TZ="+tz)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestStoredRoundTrip") {
			t.Fatalf("TZ=%s: %v\n%s", tz, err, out)
		}
	}
}

// FuzzStoredRoundTrip: the same property, with the fuzzer choosing the
// random facts.
func FuzzStoredRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		checkRoundTrip(t, randomFacts(rand.New(rand.NewPCG(a, b))))
	})
}

// goldenFacts is every field set, with times of each kind.
func goldenFacts() presence.Facts {
	now := time.Date(2026, 11, 25, 9, 0, 0, 123456789, time.UTC)
	paris := time.FixedZone("", 3600)
	return presence.Facts{
		Sessions: []presence.Session{
			{ID: "6dcddc99-5a7f-430c-a555-551d652a37b1:a", Pair: presence.Pair{Availability: presence.Available, Activity: presence.Available}, RefreshedAt: now, ExpiresAt: now.Add(4 * time.Hour)},
			{ID: "phone", Pair: presence.Pair{Availability: presence.Busy, Activity: "Sleeping"}, RefreshedAt: now.In(paris), ExpiresAt: now.Add(time.Hour).In(paris)},
		},
		Preferred:   &presence.Preferred{Pair: presence.Pair{Availability: presence.DoNotDisturb, Activity: presence.Presenting}, SetAt: now, ExpiresAt: now.Add(24 * time.Hour)},
		Status:      &presence.StatusMessage{Content: "on leave ✈", ContentType: "text", Expiry: &presence.DateTimeTimeZone{DateTime: "9999-12-31T23:00:00", TimeZone: "W. Europe Standard Time"}, ExpiresAt: time.Date(9999, 12, 31, 22, 0, 0, 0, time.UTC), PublishedAt: now},
		Events:      []presence.Event{{Start: now, End: now.Add(30 * time.Minute), ShowAs: presence.ShowAsBusy, IsMeeting: true}, {Start: now.Add(24 * time.Hour), End: now.Add(48 * time.Hour), ShowAs: presence.ShowAsOOF, IsAllDay: true}},
		AutoReplies: &presence.AutoReplies{Status: presence.RepliesScheduled, ScheduledStart: now, ScheduledEnd: now.Add(72 * time.Hour), InternalReplyMessage: "back monday"},
		Seq:         presence.Stamp{At: now.UnixNano(), N: 2},
		LastWrite:   now,
	}
}

// goldenStored is goldenFacts in the engine's form, version 1. Values in
// this form are on disk: if this test fails, the layout changed, and old
// values would be misread. Change the layout only with a new version byte
// (keeping version 1's decoder).
const goldenStored = "" +
	"0102" + // version, 2 sessions
	"002636646364646339392d356137662d343330632d613535352d3535316436353261333762313a61010101aab4db90fb889feb3102808094ae98c606" + // id, Available/Available, refreshedAt (nanos), expiresAt (after)
	"000570686f6e6505ff08536c656570696e6705a038aab4db90fb889feb31028080c58bc6d101" + // id, Busy/Sleeping (written out), refreshedAt at +01:00, expiresAt after it (same offset)
	"aab4db90fb889feb310201aab4db90fb889feb31" + // seq.at, seq.n, lastWrite
	"0f" + // parts: all four
	"071101aab4db90fb889feb31028080f89492a527" + // preferred
	"0c6f6e206c6561766520e29c88140113393939392d31322d33315432333a30303a303017572e204575726f7065205374616e646172642054696d6501aab4db90fb889feb3103c095a1ffdf0e00" + // status; expiresAt in 9999 (seconds)
	"0201aab4db90fb889feb310280c0e285e368170101aab4d3a58daec6eb31028080f89492a5271802" + // 2 events
	"1d0b6261636b206d6f6e64617901aab4db90fb889feb31028080e8beb6ef75" // autoReplies

func TestStoredGolden(t *testing.T) {
	f := goldenFacts()
	v := encodeStored(f)
	if got := hex.EncodeToString(v); got != goldenStored {
		t.Errorf("the engine's form of the golden facts changed:\n got %s\nwant %s", got, goldenStored)
	}
	want, err := hex.DecodeString(goldenStored)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeStored(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, jsonRoundTrip(t, f)) {
		t.Errorf("golden value reads as\n%+v\nwant\n%+v", got, f)
	}
}

// oldJSON is goldenFacts as the engine kept them before the binary form
// (json.Marshal of presence.Facts). Such values stay readable for ever.
const oldJSON = `{"sessions":[{"id":"6dcddc99-5a7f-430c-a555-551d652a37b1:a","pair":{"availability":"Available","activity":"Available"},"refreshedAt":"2026-11-25T09:00:00.123456789Z","expiresAt":"2026-11-25T13:00:00.123456789Z"},{"id":"phone","pair":{"availability":"Busy","activity":"Sleeping"},"refreshedAt":"2026-11-25T10:00:00.123456789+01:00","expiresAt":"2026-11-25T11:00:00.123456789+01:00"}],"preferred":{"pair":{"availability":"DoNotDisturb","activity":"Presenting"},"setAt":"2026-11-25T09:00:00.123456789Z","expiresAt":"2026-11-26T09:00:00.123456789Z"},"status":{"content":"on leave ✈","contentType":"text","expiry":{"dateTime":"9999-12-31T23:00:00","timeZone":"W. Europe Standard Time"},"expiresAt":"9999-12-31T22:00:00Z","publishedAt":"2026-11-25T09:00:00.123456789Z"},"events":[{"start":"2026-11-25T09:00:00.123456789Z","end":"2026-11-25T09:30:00.123456789Z","showAs":"busy","isMeeting":true,"isAllDay":false},{"start":"2026-11-26T09:00:00.123456789Z","end":"2026-11-27T09:00:00.123456789Z","showAs":"oof","isMeeting":false,"isAllDay":true}],"autoReplies":{"status":"scheduled","scheduledStart":"2026-11-25T09:00:00.123456789Z","scheduledEnd":"2026-11-28T09:00:00.123456789Z","internalReplyMessage":"back monday"},"seq":{"at":1795597200123456789,"n":2},"lastWrite":"2026-11-25T09:00:00.123456789Z"}`

func TestStoredReadsJSON(t *testing.T) {
	want := jsonRoundTrip(t, goldenFacts())
	if b, _ := json.Marshal(goldenFacts()); string(b) != oldJSON {
		t.Fatalf("oldJSON is not the JSON of goldenFacts:\n%s", b)
	}
	for _, v := range []string{oldJSON, " \n\t\r" + oldJSON} {
		got, err := decodeStored([]byte(v))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%.20q reads as\n%+v\nwant\n%+v", v, got, want)
		}
	}
	if got, err := decodeStored([]byte(`{}`)); err != nil || !reflect.DeepEqual(got, presence.Facts{}) {
		t.Errorf("{} reads as %+v, %v", got, err)
	}
	for _, v := range []string{"", "\x02", "\x00", "[]", " ", "null"} {
		if _, err := decodeStored([]byte(v)); !errors.Is(err, errStoredFormat) {
			t.Errorf("%q: err %v, want %v", v, err, errStoredFormat)
		}
	}
	if _, err := decodeStored([]byte(`{"sessions":`)); err == nil {
		t.Error("truncated JSON read without an error")
	}
}

// FuzzStoredDecode: corrupt values give an error, never a panic, and what
// decodes encodes to a value that decodes the same.
func FuzzStoredDecode(f *testing.F) {
	f.Add(encodeStored(goldenFacts()))
	f.Add(encodeStored(presence.Facts{}))
	f.Add([]byte(oldJSON))
	f.Add([]byte{1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		got, err := decodeStored(v)
		if err != nil || !(len(v) > 0 && v[0] == factsVersion) {
			return
		}
		again, err := decodeStored(encodeStored(got))
		if err != nil {
			t.Fatalf("%x decodes, but its re-encoding does not: %v", v, err)
		}
		if !reflect.DeepEqual(again, got) {
			t.Fatalf("%x reads as\n%+v\nits re-encoding as\n%+v", v, got, again)
		}
	})
}

// goldenWorkLocation is goldenFacts with every work location layer set.
func goldenWorkLocation() presence.Facts {
	f := goldenFacts()
	now := f.LastWrite
	paris := time.FixedZone("", 3600)
	f.Location = &presence.WorkLocations{
		Manual:    &presence.LocationSignal{Type: "office", PlaceID: "eb706f15-137e-4722-b4d1-b601481d9251", SetAt: now, Until: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)},
		Automatic: &presence.LocationSignal{Type: "remote", SetAt: now.In(paris), Until: time.Date(2026, 11, 26, 0, 0, 0, 0, paris)},
		Scheduled: []presence.ScheduledLocation{{Start: now, End: now.Add(8 * time.Hour), Type: "timeOff"}},
	}
	return f
}

// goldenWorkLocationTail is what goldenWorkLocation adds to the golden
// record in the engine's form, after its other parts.
const goldenWorkLocationTail = "" +
	"07ff066f66666963652465623730366631352d313337652d343732322d623464" +
	"312d62363031343831643932353101aab4db90fb889feb3102d6cbacb79ac718" +
	"ff0672656d6f74650005a038aab4db90fb889feb3102d6cbe7abd4f5160101aa" +
	"b4db90fb889feb31028080a8dcb08c0dff0774696d654f666600"

// A record with a work location is the record without it, its parts byte
// with bit 7, and the part after the others; it reads back exactly, and
// records without the bit read as they always did (TestStoredGolden).
func TestStoredGoldenWorkLocation(t *testing.T) {
	f := goldenWorkLocation()
	v := encodeStored(f)
	plain := encodeStored(goldenFacts())
	// The parts byte is the last byte of the plain record before its
	// optional parts; find it as the first byte that differs.
	i := 0
	for i < len(plain) && plain[i] == v[i] {
		i++
	}
	if v[i] != plain[i]|0x80 || !bytes.Equal(v[i+1:i+len(plain)-i], plain[i+1:]) {
		t.Fatalf("the work location changed more than the parts byte and the tail:\n got %x\nwant %x + tail", v, plain)
	}
	if tail := hex.EncodeToString(v[len(plain):]); tail != goldenWorkLocationTail {
		t.Errorf("the work location part changed:\n got %s\nwant %s", tail, goldenWorkLocationTail)
	}
	got, err := decodeStored(v)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, jsonRoundTrip(t, f)) {
		t.Errorf("reads as\n%+v\nwant\n%+v", got, f)
	}
}
