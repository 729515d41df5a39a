package presence

import (
	"strings"
	"testing"
	"time"
	"unsafe"
)

func TestInternSharesWithoutChangingValues(t *testing.T) {
	fresh := func(s string) string { return strings.Clone(s) }
	id := fresh("6dcddc99-5a7f-430c-a555-551d652a37b1")
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	mk := func() Facts {
		return Facts{
			Sessions:  []Session{{ID: fresh(id), Pair: Pair{fresh("Busy"), fresh("InACall")}, RefreshedAt: now, ExpiresAt: now.Add(time.Hour)}},
			Preferred: &Preferred{Pair: Pair{fresh("Away"), fresh("Away")}, ExpiresAt: now.Add(time.Hour)},
			Status:    &StatusMessage{Content: "hi", ContentType: fresh("text")},
		}
	}
	a, b := mk(), mk()
	before := Aggregate(a, now)
	Intern(&a)
	Intern(&b)
	if !Aggregate(a, now).Equal(before) {
		t.Fatal("Intern changed the view")
	}
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	if !same(a.Sessions[0].ID, b.Sessions[0].ID) || !same(a.Sessions[0].Pair.Activity, InACall) ||
		!same(a.Preferred.Pair.Availability, Away) || !same(a.Status.ContentType, "text") {
		t.Fatal("strings were not shared")
	}
}
