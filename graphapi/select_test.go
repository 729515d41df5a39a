package graphapi

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

// A presence written with $select is the full presence with only the
// selected properties, every one exactly as in the full form, for every
// subset of the properties.
func TestAppendPresenceFieldsIsTheFullFormFiltered(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	v := presence.View{Pair: presence.Pair{Availability: "Busy", Activity: "InACall"},
		OutOfOffice:  presence.OutOfOfficeSettings{IsOutOfOffice: true, Message: strp("away <b>")},
		Status:       &presence.StatusMessage{Content: `say "hi"`, ContentType: "text", PublishedAt: at},
		WorkLocation: presence.WorkLocation{WorkLocationType: "office", Source: "manual", PlaceID: strp("p1")}}
	s := snapshotOf("fa8bf3dc-eca7-46b7-bad1-db199b62afc3", v, presence.Stamp{At: 42})
	var full map[string]json.RawMessage
	if err := json.Unmarshal(appendPresence(nil, "ctx", s, true), &full); err != nil {
		t.Fatal(err)
	}
	for mask := field(0); mask <= allFields; mask++ {
		var got map[string]json.RawMessage
		if err := json.Unmarshal(appendPresenceFields(nil, "ctx", &s, true, mask), &got); err != nil {
			t.Fatalf("mask %07b: %v", mask, err)
		}
		want := map[string]json.RawMessage{"@odata.context": full["@odata.context"]}
		for _, p := range presenceFields {
			if mask&p.f != 0 {
				want[p.name] = full[p.name]
			}
		}
		if !maps.EqualFunc(got, want, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
			t.Fatalf("mask %07b: keys %v, want %v", mask, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
	}
}

// FuzzParseSelect: any $select either is refused with a Graph error or
// selects properties whose list, parsed again, selects the same.
func FuzzParseSelect(f *testing.F) {
	for _, s := range []string{"availability", "AVAILABILITY,activity", "*", "id,id", " id , workLocation ", "", ",", "mood", "availability,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		sel, err := parseSelect(v)
		if err != nil {
			if _, ok := err.(*httpError); !ok {
				t.Fatalf("%q: error %T", v, err)
			}
			return
		}
		if sel.fields == 0 || sel.fields&^allFields != 0 {
			t.Fatalf("%q: fields %b", v, sel.fields)
		}
		again, err := parseSelect(sel.list)
		if err != nil || again.fields != sel.fields || again.list != sel.list {
			t.Fatalf("%q → %q → %+v, %v", v, sel.list, again, err)
		}
	})
}
