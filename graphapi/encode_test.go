package graphapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
)

// The reference model: Graph's presence entity as encoding/json structs,
// as the API rendered it before presences were written by hand
// (encode.go). appendPresence must write exactly json.Marshal(render(…)).

// presenceJSON is Graph's presence entity on the wire.
type presenceJSON struct {
	Context             string                       `json:"@odata.context,omitempty"`
	ID                  string                       `json:"id"`
	Availability        string                       `json:"availability"`
	Activity            string                       `json:"activity"`
	StatusMessage       *statusMessageJSON           `json:"statusMessage"`
	OutOfOfficeSettings presence.OutOfOfficeSettings `json:"outOfOfficeSettings"`
	SequenceNumber      string                       `json:"sequenceNumber"`
	WorkLocation        presence.WorkLocation        `json:"workLocation"`
}

type itemBody struct {
	Content     string `json:"content"`
	ContentType string `json:"contentType"`
}

type statusMessageJSON struct {
	Message           itemBody                   `json:"message"`
	ExpiryDateTime    *presence.DateTimeTimeZone `json:"expiryDateTime,omitempty"`
	PublishedDateTime string                     `json:"publishedDateTime,omitempty"`
}

// render shapes a snapshot for a reader. Only the owner sees when their
// status message expires and when it was published (semantics §3.6).
func render(s core.Snapshot, owner bool) presenceJSON {
	v := s.View
	out := presenceJSON{
		ID:                  s.User.UserID,
		Availability:        v.Pair.Availability,
		Activity:            v.Pair.Activity,
		OutOfOfficeSettings: v.OutOfOffice,
		SequenceNumber:      s.Seq.String(),
		WorkLocation:        v.WorkLocation,
	}
	if m := v.Status; m != nil {
		out.StatusMessage = &statusMessageJSON{Message: itemBody{Content: m.Content, ContentType: m.ContentType}}
		if owner {
			out.StatusMessage.ExpiryDateTime = m.Expiry
			out.StatusMessage.PublishedDateTime = presence.FormatDateTime(m.PublishedAt)
		}
	}
	return out
}

type collection struct {
	Context string         `json:"@odata.context"`
	Value   []presenceJSON `json:"value"`
}

// tricky strings: everything encoding/json escapes, and what it does not.
var tricky = []string{
	"", "Available", "fa8bf3dc-eca7-46b7-bad1-db199b62afc3", `say "hi"`, `back\slash`, "</script>&<b>",
	"line\nbreak\ttab\rreturn\bback\fform", "\x00\x01\x1f\x7f", "café — naïve 日本語 🙂", "\u2028\u2029",
	"\xff", "a\xc3", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\u2028b\xffc<d", strings.Repeat("é", 280),
}

func snapshotOf(id string, v presence.View, seq presence.Stamp) core.Snapshot {
	return core.Snapshot{User: core.UserRef{TenantID: "t", UserID: id}, View: v, Seq: seq}
}

func strp(s string) *string { return &s }

func checkPresence(t *testing.T, context string, s core.Snapshot, owner bool) {
	t.Helper()
	ref := render(s, owner)
	ref.Context = context
	want, err := json.Marshal(ref)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendPresence([]byte("prefix"), context, s, owner); !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("appendPresence:\n got %s\nwant prefix%s", got, want)
	}
}

func TestAppendPresence(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 123456789, time.FixedZone("x", 3600))
	base := presence.View{Pair: presence.Pair{Availability: "Busy", Activity: "InACall"},
		WorkLocation: presence.WorkLocation{WorkLocationType: presence.WorkLocationUnspecified, Source: presence.WorkLocationSourceNone}}
	views := []presence.View{
		base,
		{Pair: base.Pair, OutOfOffice: presence.OutOfOfficeSettings{IsOutOfOffice: true, Message: strp("away <till> \"Monday\"")},
			WorkLocation: presence.WorkLocation{WorkLocationType: "office", Source: "manual", PlaceID: strp("b1")}},
		{Pair: base.Pair, OutOfOffice: presence.OutOfOfficeSettings{Message: strp("")}, WorkLocation: base.WorkLocation,
			Status: &presence.StatusMessage{Content: "Lunch & <3>", ContentType: "text", PublishedAt: t0}},
		{Pair: base.Pair, WorkLocation: base.WorkLocation,
			Status: &presence.StatusMessage{Content: "x", ContentType: "html", PublishedAt: t0, ExpiresAt: t0.Add(time.Hour),
				Expiry: &presence.DateTimeTimeZone{DateTime: "2026-11-25T10:00:00", TimeZone: "Pacific Standard Time"}}},
	}
	for _, s := range tricky {
		views = append(views, presence.View{Pair: presence.Pair{Availability: s, Activity: s},
			OutOfOffice:  presence.OutOfOfficeSettings{Message: strp(s)},
			WorkLocation: presence.WorkLocation{WorkLocationType: s, Source: s, PlaceID: strp(s)},
			Status: &presence.StatusMessage{Content: s, ContentType: s, PublishedAt: t0,
				Expiry: &presence.DateTimeTimeZone{DateTime: s, TimeZone: s}}})
	}
	stamps := []presence.Stamp{{}, {At: t0.UnixNano(), N: 3}, {At: -1, N: ^uint32(0)}, {At: 1 << 62, N: 1 << 31}}
	for i, v := range views {
		for _, owner := range []bool{false, true} {
			for _, context := range []string{"", "http://127.0.0.1:8080/v1.0/$metadata#users('x')/presence/$entity", tricky[i%len(tricky)]} {
				checkPresence(t, context, snapshotOf(tricky[i%len(tricky)], v, stamps[i%len(stamps)]), owner)
			}
		}
	}
}

func TestAppendString(t *testing.T) {
	check := func(s string) {
		t.Helper()
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
	for c := 0; c < 256; c++ {
		check(string([]byte{byte(c)}))
		check("a" + string([]byte{byte(c)}) + "z")
	}
	for r := rune(0x80); r < 0x3000; r++ {
		check(string(r) + "<")
	}
	for _, s := range tricky {
		check(s)
	}
}

// TestWritePresences: the collection body, headers and all, is what
// writeJSON wrote for the reference model.
func TestWritePresences(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for _, n := range []int{0, 1, 650} {
		snaps := make([]core.Snapshot, n)
		for i := range snaps {
			v := presence.View{Pair: presence.Pair{Availability: "Away", Activity: "Away"},
				WorkLocation: presence.WorkLocation{WorkLocationType: "remote", Source: "automatic"}}
			if i%3 == 0 {
				v.Status = &presence.StatusMessage{Content: tricky[i%len(tricky)], ContentType: "text", PublishedAt: t0}
			}
			snaps[i] = snapshotOf(strconv.Itoa(i), v, presence.Stamp{At: int64(i) << 20, N: uint32(i)})
		}
		owner := func(s core.Snapshot) bool { return s.User.UserID == "3" }
		ref := collection{Context: "http://h/v1.0/$metadata#Collection(microsoft.graph.presence)", Value: make([]presenceJSON, n)}
		for i, s := range snaps {
			ref.Value[i] = render(s, owner(s))
		}
		want := httptest.NewRecorder()
		writeJSON(want, http.StatusOK, ref)
		got := httptest.NewRecorder()
		writeSnapshots(got, ref.Context, snaps, owner)
		if !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
			t.Fatalf("%d presences:\n got %.500s\nwant %.500s", n, got.Body, want.Body)
		}
		if !reflect.DeepEqual(got.Header(), want.Header()) || got.Code != want.Code {
			t.Fatalf("%d presences: %d %v, want %d %v", n, got.Code, got.Header(), want.Code, want.Header())
		}
	}
}

// TestPresenceTypesKnown fails when a type that appendPresence writes by
// hand gains a field: the field would be in the reference model's JSON
// (and in what encoding/json wrote before) but not in appendPresence's.
func TestPresenceTypesKnown(t *testing.T) {
	for typ, n := range map[reflect.Type]int{
		reflect.TypeFor[presence.View]():                4,
		reflect.TypeFor[presence.Pair]():                2,
		reflect.TypeFor[presence.OutOfOfficeSettings](): 2,
		reflect.TypeFor[presence.WorkLocation]():        3,
		reflect.TypeFor[presence.DateTimeTimeZone]():    2,
		reflect.TypeFor[presence.StatusMessage]():       5, // ExpiresAt is not written
	} {
		if typ.NumField() != n {
			t.Errorf("%v has %d fields, appendPresence knows %d: update encode.go and the reference model", typ, typ.NumField(), n)
		}
	}
}

// FuzzAppendPresence compares appendPresence with encoding/json over the
// reference model for arbitrary strings, stamps and flags.
func FuzzAppendPresence(f *testing.F) {
	for i, s := range tricky {
		f.Add(s, tricky[(i+1)%len(tricky)], "ctx", int64(i)<<40, uint32(i), uint8(i))
	}
	f.Fuzz(func(t *testing.T, a, b, context string, at int64, n uint32, flags uint8) {
		v := presence.View{Pair: presence.Pair{Availability: a, Activity: b},
			OutOfOffice:  presence.OutOfOfficeSettings{IsOutOfOffice: flags&1 != 0},
			WorkLocation: presence.WorkLocation{WorkLocationType: b, Source: a}}
		if flags&2 != 0 {
			v.OutOfOffice.Message = &a
		}
		if flags&4 != 0 {
			v.WorkLocation.PlaceID = &b
		}
		if flags&8 != 0 {
			v.Status = &presence.StatusMessage{Content: a, ContentType: b, PublishedAt: time.Unix(0, at).UTC()}
			if flags&16 != 0 {
				v.Status.Expiry = &presence.DateTimeTimeZone{DateTime: b, TimeZone: a}
			}
		}
		checkPresence(t, context, snapshotOf(b+a, v, presence.Stamp{At: at, N: n}), flags&64 != 0)
	})
}

// BenchmarkEncode650 is the encoding of getPresencesByUserId's answer for
// 650 presences (every tenth with a status message), by hand and through
// encoding/json as before.
func BenchmarkEncode650(b *testing.B) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	snaps := make([]core.Snapshot, 650)
	for i := range snaps {
		v := presence.View{Pair: presence.Pair{Availability: "Busy", Activity: "InACall"},
			WorkLocation: presence.WorkLocation{WorkLocationType: presence.WorkLocationUnspecified, Source: presence.WorkLocationSourceNone}}
		if i%10 == 0 {
			v.Status = &presence.StatusMessage{Content: "Back at <3> & \"soon\" — café\n", ContentType: "text", PublishedAt: t0}
		}
		snaps[i] = snapshotOf(benchUserID(i), v, presence.Stamp{At: t0.UnixNano() + int64(i), N: 1})
	}
	const context = "http://127.0.0.1:8080/v1.0/$metadata#Collection(microsoft.graph.presence)"
	owner := func(core.Snapshot) bool { return false }
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		w := &discard{h: http.Header{}}
		for b.Loop() {
			writeSnapshots(w, context, snaps, owner)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		w := &discard{h: http.Header{}}
		for b.Loop() {
			out := collection{Context: context, Value: make([]presenceJSON, len(snaps))}
			for i, s := range snaps {
				out.Value[i] = render(s, owner(s))
			}
			writeJSON(w, http.StatusOK, out)
		}
	})
}

// writeSnapshots is writePresences over a slice.
func writeSnapshots(w http.ResponseWriter, context string, snaps []core.Snapshot, owner func(core.Snapshot) bool) {
	_ = writePresences(w, context, len(snaps),
		func(each func(*core.Snapshot) error) error {
			for i := range snaps {
				if err := each(&snaps[i]); err != nil {
					return err
				}
			}
			return nil
		},
		func(s *core.Snapshot) bool { return owner(*s) })
}
