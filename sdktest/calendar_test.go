package sdktest

import (
	"testing"
	"time"

	"github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/presenced/presenced/directory"
)

func dtz(t time.Time) models.DateTimeTimeZoneable {
	v := models.NewDateTimeTimeZone()
	v.SetDateTime(ptr(t.UTC().Format("2006-01-02T15:04:05")))
	v.SetTimeZone(ptr("UTC"))
	return v
}

// TestCalendarWithTheSDK creates an event, a recurring series and
// automatic replies with the official SDK, and reads the presence they
// make: In a meeting, then out of office with the reply text.
func TestCalendarWithTheSDK(t *testing.T) {
	e := start(t)
	app := e.client(e.appAuth(), "v1.0")
	c := ctx(t)
	adele, alex := e.user("adele"), e.user("alex")
	now := e.srv.Clock().Now()

	// A meeting under way for adele.
	ev := models.NewEvent()
	ev.SetSubject(ptr("Design review"))
	ev.SetStart(dtz(now.Add(-5 * time.Minute)))
	ev.SetEnd(dtz(now.Add(30 * time.Minute)))
	busy := models.BUSY_FREEBUSYSTATUS
	ev.SetShowAs(&busy)
	created, err := app.Users().ByUserId(adele).Events().Post(c, ev, nil)
	if err != nil {
		t.Fatalf("create event: %v", err)
	}
	if created.GetId() == nil || created.GetTypeEscaped() == nil || *created.GetTypeEscaped() != models.SINGLEINSTANCE_EVENTTYPE {
		t.Fatalf("created event: id %v type %v", deref(created.GetId()), created.GetTypeEscaped())
	}

	// A daily series with no end for alex, whose occurrence of today is under way.
	series := models.NewEvent()
	series.SetSubject(ptr("Stand-up"))
	series.SetStart(dtz(now.Add(-10 * time.Minute)))
	series.SetEnd(dtz(now.Add(20 * time.Minute)))
	rec := models.NewPatternedRecurrence()
	pat := models.NewRecurrencePattern()
	daily := models.DAILY_RECURRENCEPATTERNTYPE
	pat.SetTypeEscaped(&daily)
	pat.SetInterval(ptr(int32(1)))
	rng := models.NewRecurrenceRange()
	noEnd := models.NOEND_RECURRENCERANGETYPE
	rng.SetTypeEscaped(&noEnd)
	startDate := now.Add(-10 * time.Minute).UTC()
	rng.SetStartDate(serialization.NewDateOnly(startDate))
	rec.SetPattern(pat)
	rec.SetRangeEscaped(rng)
	series.SetRecurrence(rec)
	master, err := app.Users().ByUserId(alex).Events().Post(c, series, nil)
	if err != nil {
		t.Fatalf("create series: %v", err)
	}
	if master.GetTypeEscaped() == nil || *master.GetTypeEscaped() != models.SERIESMASTER_EVENTTYPE || master.GetRecurrence() == nil {
		t.Fatalf("series master: type %v recurrence %v", master.GetTypeEscaped(), master.GetRecurrence())
	}

	for _, id := range []string{adele, alex} {
		if err := app.Users().ByUserId(id).Presence().SetPresence().Post(c, usersSetPresence(directory.DemoDaemonClientID, "Available", "Available", nil), nil); err != nil {
			t.Fatalf("setPresence: %v", err)
		}
		p, err := app.Users().ByUserId(id).Presence().Get(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantPair(t, "during the meeting", p, "Busy", "InAMeeting")
	}

	// Automatic replies for adele: out of office, with the message.
	ms := models.NewMailboxSettings()
	ar := models.NewAutomaticRepliesSetting()
	on := models.ALWAYSENABLED_AUTOMATICREPLIESSTATUS
	ar.SetStatus(&on)
	ar.SetInternalReplyMessage(ptr("On leave until Monday"))
	ms.SetAutomaticRepliesSetting(ar)
	if _, err := app.Users().ByUserId(adele).MailboxSettings().Patch(c, ms, nil); err != nil {
		t.Fatalf("PATCH mailboxSettings: %v", err)
	}
	got, err := app.Users().ByUserId(adele).MailboxSettings().Get(c, nil)
	if err != nil {
		t.Fatalf("GET mailboxSettings: %v", err)
	}
	if s := got.GetAutomaticRepliesSetting().GetStatus(); s == nil || *s != models.ALWAYSENABLED_AUTOMATICREPLIESSTATUS {
		t.Fatalf("automaticRepliesSetting.status %v", s)
	}
	p, err := app.Users().ByUserId(adele).Presence().Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPair(t, "in a meeting and out of office", p, "Busy", "InAMeeting")
	oof := p.GetOutOfOfficeSettings()
	if oof == nil || oof.GetIsOutOfOffice() == nil || !*oof.GetIsOutOfOffice() || deref(oof.GetMessage()) != "On leave until Monday" {
		t.Fatalf("outOfOfficeSettings %+v", oof)
	}

	// The meeting deleted: Available, out of office.
	if err := app.Users().ByUserId(adele).Events().ByEventId(*created.GetId()).Delete(c, nil); err != nil {
		t.Fatalf("delete event: %v", err)
	}
	p, err = app.Users().ByUserId(adele).Presence().Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPair(t, "out of office", p, "Available", "OutOfOffice")
}
