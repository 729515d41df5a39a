package graphapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/notify"
	"github.com/presenced/presenced/presence"
)

// GET /presenced/v1/users/{id|upn}/presence/explain (and /me/…): why a
// user's presence is what it is. Which rule decided comes from the domain
// (presence.Decide, the same rules Aggregate applies), the next change by
// itself from presence.NextChange, the recent changes from the change log.
// Authorised as a read of the presence; the user themself sees more (the
// session ids with their labels, when the preferred presence was set, the
// status message's and automatic replies' schedule), as with the status
// message. docs/api.md has the shape.

// ChangeLog is the change log as the explain endpoint reads it.
type ChangeLog interface {
	// Recent returns up to n of the user's newest logged changes, oldest first.
	Recent(ctx context.Context, u core.UserRef, n int) ([]notify.Entry, error)
}

// ExplainPath is where the explanation of a user's presence is served
// ({id} an object id or userPrincipalName).
const ExplainPath = "/presenced/v1/users/{id}/presence/explain"

// recentChanges is how many logged changes an explanation lists.
const recentChanges = 20

type explainPair struct {
	Availability string `json:"availability"`
	Activity     string `json:"activity"`
}

type explainRule struct {
	Rule        int    `json:"rule"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

type explainSession struct {
	SessionID         string       `json:"sessionId,omitempty"` // owner only
	ApplicationID     string       `json:"applicationId"`
	ApplicationName   string       `json:"applicationName"`
	Set               explainPair  `json:"set"`
	Now               *explainPair `json:"now"` // null: expired
	RefreshedDateTime string       `json:"refreshedDateTime"`
	ExpiresDateTime   string       `json:"expiresDateTime"`
	InactiveDateTime  string       `json:"inactiveDateTime,omitempty"` // Available fades to AvailableInactive
	AwayDateTime      string       `json:"awayDateTime,omitempty"`     // … and to Away
	Decides           bool         `json:"decides"`
}

type explainPreferred struct {
	explainPair
	SetDateTime     string `json:"setDateTime,omitempty"` // owner only
	ExpiresDateTime string `json:"expiresDateTime"`
	InForce         bool   `json:"inForce"`
}

type explainMeeting struct {
	StartDateTime string `json:"startDateTime"`
	EndDateTime   string `json:"endDateTime"`
	ShowAs        string `json:"showAs"`
	InProgress    bool   `json:"inProgress"`
}

type explainReplies struct {
	Status                 string  `json:"status"`
	ScheduledStartDateTime string  `json:"scheduledStartDateTime,omitempty"` // owner only
	ScheduledEndDateTime   string  `json:"scheduledEndDateTime,omitempty"`   // owner only
	InForce                bool    `json:"inForce"`
	Message                *string `json:"message"`
}

type explainOOF struct {
	IsOutOfOffice    bool   `json:"isOutOfOffice"`
	AutomaticReplies bool   `json:"automaticReplies"`
	OOFEvent         bool   `json:"oofEvent"`
	ActivityReplaced bool   `json:"activityReplaced"`
	Description      string `json:"description"`
}

type explainNext struct {
	DateTime      string   `json:"dateTime"`
	Availability  string   `json:"availability"`
	Activity      string   `json:"activity"`
	IsOutOfOffice bool     `json:"isOutOfOffice"`
	DecidedBy     string   `json:"decidedBy"`
	Changes       []string `json:"changes"`
}

type explainChange struct {
	ID             uint64 `json:"id"` // the change's position in the log (the stream's event id)
	SequenceNumber string `json:"sequenceNumber"`
	DateTime       string `json:"dateTime"`
	Availability   string `json:"availability"`
	Activity       string `json:"activity"`
	IsOutOfOffice  bool   `json:"isOutOfOffice"`
}

type explanation struct {
	ID                string            `json:"id"`
	UserPrincipalName string            `json:"userPrincipalName"`
	DisplayName       string            `json:"displayName"`
	DateTime          string            `json:"dateTime"`
	Presence          json.RawMessage   `json:"presence"`
	DecidedBy         explainRule       `json:"decidedBy"`
	OutOfOffice       explainOOF        `json:"outOfOffice"`
	Sessions          []explainSession  `json:"sessions"`
	PreferredPresence *explainPreferred `json:"preferredPresence"`
	Meetings          []explainMeeting  `json:"meetings"`
	AutomaticReplies  *explainReplies   `json:"automaticReplies"`
	NextChange        *explainNext      `json:"nextChange"`
	RecentChanges     []explainChange   `json:"recentChanges"`
}

func (a *API) explain(kind subjectKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, u, err := a.readable(r, kind)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		snap, err := a.core.Read(r.Context(), ref(u))
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		e := a.explanation(u, snap, isOwner(p, u.ID))
		if a.changes != nil {
			entries, err := a.changes.Recent(r.Context(), ref(u), recentChanges)
			if err != nil {
				a.writeError(w, r, err)
				return
			}
			for i := len(entries) - 1; i >= 0; i-- { // newest first
				c := entries[i].Change
				e.RecentChanges = append(e.RecentChanges, explainChange{ID: entries[i].Seq, SequenceNumber: c.Seq.String(), DateTime: presence.FormatDateTime(c.At),
					Availability: c.View.Pair.Availability, Activity: c.View.Pair.Activity, IsOutOfOffice: c.View.OutOfOffice.IsOutOfOffice})
			}
		}
		writeJSON(w, http.StatusOK, e)
	}
}

// explanation builds what is explained from the facts alone.
func (a *API) explanation(u directory.User, snap core.Snapshot, owner bool) explanation {
	f, now := snap.Facts, snap.At
	d := presence.Decide(f, now)
	e := explanation{ID: u.ID, UserPrincipalName: u.UserPrincipalName, DisplayName: u.DisplayName, DateTime: presence.FormatDateTime(now),
		Presence: appendPresence(nil, "", snap, owner), Sessions: []explainSession{}, Meetings: []explainMeeting{}, RecentChanges: []explainChange{}}
	e.DecidedBy = explainRule{Rule: int(d.Rule), Name: d.Rule.String(), Description: a.ruleText(f, d)}
	e.OutOfOffice = explainOOF{IsOutOfOffice: d.OutOfOffice.On(), AutomaticReplies: d.OutOfOffice.AutomaticReplies, OOFEvent: d.OutOfOffice.Event,
		ActivityReplaced: d.OutOfOffice.ReplacedActivity, Description: oofText(d)}
	for i, s := range f.Sessions {
		appID, _, _ := strings.Cut(s.ID, ":")
		es := explainSession{ApplicationID: appID, ApplicationName: a.appName(appID), Set: explainPair(s.Pair),
			RefreshedDateTime: presence.FormatDateTime(s.RefreshedAt), ExpiresDateTime: presence.FormatDateTime(s.ExpiresAt), Decides: i == d.Session && d.Rule >= presence.RuleSession}
		if owner {
			es.SessionID = s.ID
		}
		if p, live := presence.SessionState(s, now); live {
			es.Now = &explainPair{p.Availability, p.Activity}
		}
		if s.Pair == (presence.Pair{Availability: presence.Available, Activity: presence.Available}) {
			if t := s.RefreshedAt.Add(presence.FadeInactive); t.Before(s.ExpiresAt) {
				es.InactiveDateTime = presence.FormatDateTime(t)
			}
			if t := s.RefreshedAt.Add(presence.FadeAway); t.Before(s.ExpiresAt) {
				es.AwayDateTime = presence.FormatDateTime(t)
			}
		}
		e.Sessions = append(e.Sessions, es)
	}
	if pr := f.Preferred; pr != nil && now.Before(pr.ExpiresAt) {
		ep := &explainPreferred{explainPair: explainPair(pr.Pair), ExpiresDateTime: presence.FormatDateTime(pr.ExpiresAt), InForce: d.Rule == presence.RulePreferred}
		if owner {
			ep.SetDateTime = presence.FormatDateTime(pr.SetAt)
		}
		e.PreferredPresence = ep
	}
	for _, ev := range f.Events {
		if !ev.End.After(now) || ev.IsAllDay || !(ev.ShowAs == presence.ShowAsBusy || ev.ShowAs == presence.ShowAsTentative || ev.ShowAs == presence.ShowAsOOF) ||
			(ev.ShowAs != presence.ShowAsOOF && !ev.IsMeeting) {
			continue
		}
		e.Meetings = append(e.Meetings, explainMeeting{StartDateTime: presence.FormatDateTime(ev.Start), EndDateTime: presence.FormatDateTime(ev.End),
			ShowAs: ev.ShowAs, InProgress: !now.Before(ev.Start)})
	}
	if ar := f.AutoReplies; ar != nil && ar.Status != presence.RepliesDisabled {
		er := &explainReplies{Status: ar.Status, InForce: d.OutOfOffice.AutomaticReplies}
		if er.InForce && ar.InternalReplyMessage != "" {
			m := ar.InternalReplyMessage
			er.Message = &m
		}
		if owner && ar.Status == presence.RepliesScheduled {
			er.ScheduledStartDateTime, er.ScheduledEndDateTime = presence.FormatDateTime(ar.ScheduledStart), presence.FormatDateTime(ar.ScheduledEnd)
		}
		if owner || er.InForce {
			e.AutomaticReplies = er
		}
	}
	if t, ok := presence.NextChange(f, now); ok {
		v, nd := presence.Aggregate(f, t), presence.Decide(f, t)
		e.NextChange = &explainNext{DateTime: presence.FormatDateTime(t), Availability: v.Pair.Availability, Activity: v.Pair.Activity,
			IsOutOfOffice: v.OutOfOffice.IsOutOfOffice, DecidedBy: nd.Rule.String(), Changes: changedParts(snap.View, v)}
	}
	return e
}

// changedParts names what differs between two views.
func changedParts(a, b presence.View) []string {
	out := []string{}
	if a.Pair.Availability != b.Pair.Availability {
		out = append(out, "availability")
	}
	if a.Pair.Activity != b.Pair.Activity {
		out = append(out, "activity")
	}
	if a.OutOfOffice.IsOutOfOffice != b.OutOfOffice.IsOutOfOffice || !equalPtr(a.OutOfOffice.Message, b.OutOfOffice.Message) {
		out = append(out, "outOfOfficeSettings")
	}
	if (a.Status == nil) != (b.Status == nil) {
		out = append(out, "statusMessage")
	}
	return out
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func (a *API) appName(clientID string) string {
	if app, ok := a.dir.App(clientID); ok {
		return app.Name
	}
	return "an application no longer registered"
}

// ruleText says in words why the rule that decided did.
func (a *API) ruleText(f presence.Facts, d presence.Decision) string {
	switch d.Rule {
	case presence.RuleNoSession:
		s := "No session is live (none was set, or every one expired), so the user is Offline."
		if f.Preferred != nil {
			s += " A preferred presence is shown only while at least one session is live."
		}
		return s
	case presence.RulePreferred:
		return fmt.Sprintf("The user's preferred presence %s/%s is in force until %s: it beats every session and the calendar.",
			f.Preferred.Pair.Availability, f.Preferred.Pair.Activity, presence.FormatDateTime(f.Preferred.ExpiresAt))
	case presence.RuleMeeting:
		return fmt.Sprintf("A meeting is in progress: it turns the session's %s/%s into Busy/InAMeeting (only a call, Presenting, DoNotDisturb or a preferred presence beat a meeting).",
			d.SessionPair.Availability, d.SessionPair.Activity)
	}
	s := f.Sessions[d.Session]
	appID, _, _ := strings.Cut(s.ID, ":")
	out := fmt.Sprintf("The highest-ranked live session decides: %s at %s/%s (sessions rank by availability, DoNotDisturb > Busy > Available > Away, then by the more specific activity, then by the most recent refresh).",
		a.appName(appID), d.SessionPair.Availability, d.SessionPair.Activity)
	if s.Pair != d.SessionPair {
		out += fmt.Sprintf(" It was set to %s/%s and faded: %s after %s idle.", s.Pair.Availability, s.Pair.Activity, d.SessionPair.Activity, fadeAfter(d.SessionPair))
	}
	if d.Meeting {
		out += " A meeting is in progress, but " + d.SessionPair.Activity + " beats it."
	}
	return out
}

func fadeAfter(p presence.Pair) time.Duration {
	if p.Availability == presence.Away {
		return presence.FadeAway
	}
	return presence.FadeInactive
}

func oofText(d presence.Decision) string {
	o := d.OutOfOffice
	var why string
	switch {
	case !o.On():
		return "Not out of office: automatic replies are off and no event shown as out of office is in progress."
	case o.AutomaticReplies && o.Event:
		why = "Automatic replies are on, and an event shown as out of office is in progress"
	case o.AutomaticReplies:
		why = "Automatic replies are on"
	default:
		why = "An event shown as out of office is in progress"
	}
	if o.ReplacedActivity {
		return why + ": the activity becomes OutOfOffice."
	}
	return why + ": the user is out of office, and the activity " + d.Pair.Activity + " stays (only a plain activity becomes OutOfOffice)."
}
