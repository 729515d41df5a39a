package graphapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/calendar"
	"github.com/presenced/presenced/calendar/tz"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/mailbox"
)

// ignored accepts a Graph event property presenced does not keep (a
// location, categories, reminders): SDKs send them, and refusing them
// would refuse ordinary requests. docs/calendar.md lists them.
func ignored(json.RawMessage) error { return nil }

var ignoredEventProps = []string{"location", "locations", "categories", "importance", "sensitivity", "isReminderOn",
	"reminderMinutesBeforeStart", "responseRequested", "allowNewTimeProposals", "transactionId", "onlineMeetingProvider", "hideAttendees", "isDraft"}

// decodeEvent decodes an event of a POST (create) or a PATCH strictly:
// unknown properties are refused by name, at every level.
func decodeEvent(r *http.Request, limit int64, create bool) (mailbox.Input, error) {
	var in mailbox.Input
	body, err := readBody(r, limit)
	if err != nil {
		return in, err
	}
	params := []param{
		{"subject", &in.Subject},
		{"body", func(raw json.RawMessage) error {
			in.Body = new(mailbox.ItemBody)
			return decodeObject(raw, "event", "body.", []param{{"contentType", &in.Body.ContentType}, {"content", &in.Body.Content}})
		}},
		{"start", func(raw json.RawMessage) error {
			in.Start = new(calendar.DateTimeTimeZone)
			return decodeDTZ(raw, "start.", in.Start)
		}},
		{"end", func(raw json.RawMessage) error {
			in.End = new(calendar.DateTimeTimeZone)
			return decodeDTZ(raw, "end.", in.End)
		}},
		{"isAllDay", &in.IsAllDay},
		{"showAs", &in.ShowAs},
		{"attendees", func(raw json.RawMessage) error {
			var items []json.RawMessage
			if err := json.Unmarshal(raw, &items); err != nil {
				return fmt.Errorf("attendees: %w", err)
			}
			as := make([]mailbox.Attendee, len(items))
			for i, it := range items {
				p := fmt.Sprintf("attendees[%d].", i)
				err := decodeObject(it, "event", p, []param{{"type", &as[i].Type}, {"status", ignored},
					{"emailAddress", func(raw json.RawMessage) error {
						return decodeObject(raw, "event", p+"emailAddress.", []param{{"name", &as[i].EmailAddress.Name}, {"address", &as[i].EmailAddress.Address}})
					}}})
				if err != nil {
					return err
				}
			}
			in.Attendees = &as
			return nil
		}},
		{"isOnlineMeeting", &in.IsOnlineMeeting},
		{"isCancelled", &in.IsCancelled},
		{"recurrence", func(raw json.RawMessage) error {
			var err error
			in.Recurrence, err = decodeRecurrence(raw, "event")
			return err
		}},
	}
	for _, name := range ignoredEventProps {
		params = append(params, param{name, ignored})
	}
	what := "PATCH of an event"
	if create {
		what = "an event"
	}
	return in, decodeBytes(body, what, !create, params)
}

// decodeRecurrence decodes a patternedRecurrence strictly.
func decodeRecurrence(raw json.RawMessage, what string) (*calendar.Recurrence, error) {
	rec := new(calendar.Recurrence)
	pt, rg := &rec.Pattern, &rec.Range
	err := decodeObject(raw, what, "recurrence.", []param{
		{"pattern", func(raw json.RawMessage) error {
			return decodeObject(raw, what, "recurrence.pattern.", []param{{"type", &pt.Type}, {"interval", &pt.Interval}, {"month", &pt.Month},
				{"dayOfMonth", &pt.DayOfMonth}, {"daysOfWeek", &pt.DaysOfWeek}, {"firstDayOfWeek", &pt.FirstDayOfWeek}, {"index", &pt.Index}})
		}},
		{"range", func(raw json.RawMessage) error {
			return decodeObject(raw, what, "recurrence.range.", []param{{"type", &rg.Type}, {"startDate", &rg.StartDate}, {"endDate", &rg.EndDate},
				{"recurrenceTimeZone", &rg.RecurrenceTimeZone}, {"numberOfOccurrences", &rg.NumberOfOccurrences}})
		}},
	})
	return rec, err
}

func decodeDTZ(raw json.RawMessage, path string, v *calendar.DateTimeTimeZone) error {
	return decodeObject(raw, "event", path, []param{{"dateTime", &v.DateTime}, {"timeZone", &v.TimeZone}})
}

// decodeSettings decodes a PATCH of mailboxSettings strictly.
func decodeSettings(r *http.Request, limit int64) (mailbox.SettingsInput, error) {
	var in mailbox.SettingsInput
	body, err := readBody(r, limit)
	if err != nil {
		return in, err
	}
	const p = "automaticRepliesSetting."
	return in, decodeBytes(body, "mailboxSettings", false, []param{
		{"automaticRepliesSetting", func(raw json.RawMessage) error {
			return decodeObject(raw, "mailboxSettings", p, []param{
				{"status", &in.Status}, {"externalAudience", &in.ExternalAudience},
				{"internalReplyMessage", &in.InternalReplyMessage}, {"externalReplyMessage", &in.ExternalReplyMessage},
				{"scheduledStartDateTime", func(raw json.RawMessage) error {
					in.ScheduledStartDateTime = new(calendar.DateTimeTimeZone)
					return decodeDTZ(raw, p+"scheduledStartDateTime.", in.ScheduledStartDateTime)
				}},
				{"scheduledEndDateTime", func(raw json.RawMessage) error {
					in.ScheduledEndDateTime = new(calendar.DateTimeTimeZone)
					return decodeDTZ(raw, p+"scheduledEndDateTime.", in.ScheduledEndDateTime)
				}},
			})
		}},
		{"timeZone", &in.TimeZone},
		{"workingHours", func(raw json.RawMessage) error {
			wh := new(mailbox.WorkingHours)
			in.WorkingHours = wh
			return decodeObject(raw, "mailboxSettings", "workingHours.", []param{
				{"daysOfWeek", &wh.DaysOfWeek}, {"startTime", &wh.StartTime}, {"endTime", &wh.EndTime},
				{"timeZone", func(raw json.RawMessage) error {
					return decodeObject(raw, "mailboxSettings", "workingHours.timeZone.", []param{{"name", &wh.TimeZone.Name}, {"@odata.type", ignored}})
				}},
			})
		}},
	})
}

// readerZone is the zone a response shows times in: the request's
// Prefer: outlook.timezone="…" when it names a known zone, else UTC (as
// Graph does); the name is echoed as given.
func readerZone(r *http.Request) (*time.Location, string, bool) {
	for _, v := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "outlook.timezone") {
				continue
			}
			name := strings.Trim(strings.TrimSpace(val), `"`)
			if loc, ok := tz.Load(name); ok {
				return loc, name, true
			}
		}
	}
	return time.UTC, "UTC", false
}

type dtzJSON struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

type statusJSON struct {
	Response string `json:"response"`
	Time     string `json:"time"`
}

type attendeeJSON struct {
	Type         string               `json:"type"`
	Status       statusJSON           `json:"status"`
	EmailAddress mailbox.EmailAddress `json:"emailAddress"`
}

type recipientJSON struct {
	EmailAddress mailbox.EmailAddress `json:"emailAddress"`
}

// eventJSON is Graph's event as presenced shows it.
type eventJSON struct {
	Context                    string               `json:"@odata.context,omitempty"`
	ID                         string               `json:"id"`
	CreatedDateTime            string               `json:"createdDateTime"`
	LastModifiedDateTime       string               `json:"lastModifiedDateTime"`
	Categories                 []string             `json:"categories"`
	OriginalStartTimeZone      string               `json:"originalStartTimeZone"`
	OriginalEndTimeZone        string               `json:"originalEndTimeZone"`
	ReminderMinutesBeforeStart int                  `json:"reminderMinutesBeforeStart"`
	IsReminderOn               bool                 `json:"isReminderOn"`
	HasAttachments             bool                 `json:"hasAttachments"`
	Subject                    string               `json:"subject"`
	BodyPreview                string               `json:"bodyPreview"`
	Importance                 string               `json:"importance"`
	Sensitivity                string               `json:"sensitivity"`
	IsAllDay                   bool                 `json:"isAllDay"`
	IsCancelled                bool                 `json:"isCancelled"`
	IsOrganizer                bool                 `json:"isOrganizer"`
	ResponseRequested          bool                 `json:"responseRequested"`
	SeriesMasterID             *string              `json:"seriesMasterId"`
	ShowAs                     string               `json:"showAs"`
	Type                       string               `json:"type"`
	IsOnlineMeeting            bool                 `json:"isOnlineMeeting"`
	ResponseStatus             statusJSON           `json:"responseStatus"`
	Body                       mailbox.ItemBody     `json:"body"`
	Start                      dtzJSON              `json:"start"`
	End                        dtzJSON              `json:"end"`
	Recurrence                 *calendar.Recurrence `json:"recurrence"`
	Attendees                  []attendeeJSON       `json:"attendees"`
	Organizer                  recipientJSON        `json:"organizer"`
}

const noTime = "0001-01-01T00:00:00Z"

func eventOf(u directory.User, s mailbox.Shown, loc *time.Location, zone string) eventJSON {
	e := eventJSON{ID: s.ID, CreatedDateTime: graphTime(s.CreatedDateTime), LastModifiedDateTime: graphTime(s.LastModifiedDateTime),
		Categories: []string{}, OriginalStartTimeZone: s.Event.Start.TimeZone, OriginalEndTimeZone: s.Event.End.TimeZone,
		ReminderMinutesBeforeStart: 15, IsReminderOn: true, Subject: s.Subject, BodyPreview: preview(s.Body),
		Importance: "normal", Sensitivity: "normal", IsAllDay: s.IsAllDay, IsCancelled: s.IsCancelled, IsOrganizer: true,
		ResponseRequested: true, ShowAs: s.ShowAs, Type: s.Type, IsOnlineMeeting: s.IsOnlineMeeting,
		ResponseStatus: statusJSON{Response: "organizer", Time: noTime}, Body: s.Body,
		Start:      dtzJSON{calendar.FormatDateTime(s.Start, loc), zone},
		End:        dtzJSON{calendar.FormatDateTime(s.End, loc), zone},
		Recurrence: s.Recurrence, Attendees: []attendeeJSON{},
		Organizer: recipientJSON{mailbox.EmailAddress{Name: u.DisplayName, Address: u.UserPrincipalName}}}
	if s.SeriesMasterID != "" {
		id := s.SeriesMasterID
		e.SeriesMasterID = &id
	}
	for _, at := range s.Attendees {
		e.Attendees = append(e.Attendees, attendeeJSON{Type: at.Type, Status: statusJSON{Response: "none", Time: noTime}, EmailAddress: at.EmailAddress})
	}
	return e
}

func graphTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

// preview is Graph's bodyPreview: the first 255 characters of the text.
func preview(b mailbox.ItemBody) string {
	s := b.Content
	if b.ContentType == "html" {
		var out strings.Builder
		in := false
		for _, r := range s {
			switch {
			case r == '<':
				in = true
			case r == '>':
				in = false
			case !in:
				out.WriteRune(r)
			}
		}
		s = out.String()
	}
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 255 {
		s = string(r[:255])
	}
	return s
}

func (a *API) writeEvent(w http.ResponseWriter, r *http.Request, u directory.User, status int, s mailbox.Shown) {
	loc, zone, applied := readerZone(r)
	if applied {
		w.Header().Set("Preference-Applied", `outlook.timezone="`+zone+`"`)
	}
	e := eventOf(u, s, loc, zone)
	e.Context = a.serviceRoot(r, "/$metadata#users('", u.ID, "')/events/$entity")
	if status == http.StatusCreated {
		w.Header().Set("Location", a.serviceRoot(r, "/users/", u.ID, "/events/", s.ID))
	}
	writeJSON(w, status, e)
}

// writeEvents answers a page of events, with @odata.nextLink when more
// follow (the same query, $skip moved on).
func (a *API) writeEvents(w http.ResponseWriter, r *http.Request, u directory.User, evs []mailbox.Shown, more bool, skip, top int, what string) {
	loc, zone, applied := readerZone(r)
	if applied {
		w.Header().Set("Preference-Applied", `outlook.timezone="`+zone+`"`)
	}
	out := struct {
		Context  string      `json:"@odata.context"`
		NextLink string      `json:"@odata.nextLink,omitempty"`
		Value    []eventJSON `json:"value"`
	}{Context: a.serviceRoot(r, "/$metadata#users('", u.ID, "')/", what), Value: make([]eventJSON, 0, len(evs))}
	for _, s := range evs {
		out.Value = append(out.Value, eventOf(u, s, loc, zone))
	}
	if more {
		q := r.URL.Query()
		q.Set("$top", strconv.Itoa(top))
		q.Set("$skip", strconv.Itoa(skip+top))
		path := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v1.0"), "/beta")
		out.NextLink = a.serviceRoot(r, path, "?", q.Encode())
	}
	writeJSON(w, http.StatusOK, out)
}

type repliesOut struct {
	Context                string   `json:"@odata.context,omitempty"`
	Status                 string   `json:"status"`
	ExternalAudience       string   `json:"externalAudience"`
	InternalReplyMessage   string   `json:"internalReplyMessage"`
	ExternalReplyMessage   string   `json:"externalReplyMessage"`
	ScheduledStartDateTime *dtzJSON `json:"scheduledStartDateTime,omitempty"`
	ScheduledEndDateTime   *dtzJSON `json:"scheduledEndDateTime,omitempty"`
}

func repliesJSON(context string, s mailbox.AutoReplies) repliesOut {
	o := repliesOut{Context: context, Status: s.Status, ExternalAudience: s.ExternalAudience, InternalReplyMessage: s.InternalReplyMessage, ExternalReplyMessage: s.ExternalReplyMessage}
	if v := s.ScheduledStartDateTime; v != nil {
		o.ScheduledStartDateTime = &dtzJSON{v.DateTime, v.TimeZone}
	}
	if v := s.ScheduledEndDateTime; v != nil {
		o.ScheduledEndDateTime = &dtzJSON{v.DateTime, v.TimeZone}
	}
	return o
}

type languageJSON struct {
	Locale      string `json:"locale"`
	DisplayName string `json:"displayName"`
}

func settingsJSON(context string, s mailbox.Settings) any {
	return struct {
		Context                               string               `json:"@odata.context"`
		AutomaticRepliesSetting               repliesOut           `json:"automaticRepliesSetting"`
		TimeZone                              string               `json:"timeZone"`
		WorkingHours                          mailbox.WorkingHours `json:"workingHours"`
		Language                              languageJSON         `json:"language"`
		DateFormat                            string               `json:"dateFormat"`
		TimeFormat                            string               `json:"timeFormat"`
		DelegateMeetingMessageDeliveryOptions string               `json:"delegateMeetingMessageDeliveryOptions"`
		UserPurpose                           string               `json:"userPurpose"`
	}{context, repliesJSON("", s.AutomaticRepliesSetting), s.TimeZone, s.WorkingHours,
		languageJSON{"en-US", "English (United States)"}, "M/d/yyyy", "h:mm tt", "sendToDelegateOnly", "user"}
}
