package graphapi

import (
	"encoding/json"
	"net/http"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/calendar"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/mailbox"
)

// The work plan's weekly recurrences (Graph's workPlanRecurrence): the
// same permissions as occurrences, PUT to replace, no PATCH.

type workRecurrenceJSON struct {
	Context          string                    `json:"@odata.context,omitempty"`
	ID               string                    `json:"id"`
	Start            calendar.DateTimeTimeZone `json:"start"`
	End              calendar.DateTimeTimeZone `json:"end"`
	Recurrence       calendar.Recurrence       `json:"recurrence"`
	WorkLocationType string                    `json:"workLocationType"`
	PlaceID          *string                   `json:"placeId"`
}

func workRecurrenceOf(r mailbox.WorkRecurrence) workRecurrenceJSON {
	j := workRecurrenceJSON{ID: r.ID, Start: r.Start, End: r.End, Recurrence: r.Recurrence, WorkLocationType: r.WorkLocationType}
	if r.PlaceID != "" {
		p := r.PlaceID
		j.PlaceID = &p
	}
	return j
}

func decodeWorkRecurrence(r *http.Request, limit int64, id string) (mailbox.WorkRecurrenceInput, error) {
	var in mailbox.WorkRecurrenceInput
	body, err := readBody(r, limit)
	if err != nil {
		return in, err
	}
	const what = "a workPlanRecurrence"
	params := append(workPlanParams(&in.WorkOccurrenceInput, what, id), param{"recurrence", func(raw json.RawMessage) error {
		var err error
		in.Recurrence, err = decodeRecurrence(raw, what)
		return err
	}})
	return in, decodeBytes(body, what, false, params)
}

func (a *API) writeWorkRecurrence(w http.ResponseWriter, r *http.Request, u directory.User, status int, rec mailbox.WorkRecurrence) {
	j := workRecurrenceOf(rec)
	j.Context = a.serviceRoot(r, "/$metadata#users('", u.ID, "')", workPlan, "/recurrences/$entity")
	if status == http.StatusCreated {
		w.Header().Set("Location", a.serviceRoot(r, "/users/", u.ID, workPlan, "/recurrences/", rec.ID))
	}
	writeJSON(w, status, j)
}

func (a *API) listWorkRecurrences(kind subjectKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, ok := a.workPlanUser(w, r, kind, auth.ReadWorkPlan)
		if !ok {
			return
		}
		recs, err := a.mail.WorkRecurrences(r.Context(), ref(u))
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		out := struct {
			Context string               `json:"@odata.context"`
			Value   []workRecurrenceJSON `json:"value"`
		}{Context: a.serviceRoot(r, "/$metadata#users('", u.ID, "')", workPlan, "/recurrences"), Value: make([]workRecurrenceJSON, 0, len(recs))}
		for _, rec := range recs {
			out.Value = append(out.Value, workRecurrenceOf(rec))
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (a *API) createWorkRecurrence(kind subjectKind) http.HandlerFunc {
	return mailboxCall(a, kind, auth.WriteWorkPlan, func(r *http.Request, u directory.User) (mailbox.WorkRecurrence, error) {
		in, err := decodeWorkRecurrence(r, a.maxBody, "")
		if err != nil {
			return mailbox.WorkRecurrence{}, err
		}
		return a.mail.CreateWorkRecurrence(r.Context(), ref(u), in)
	}, answer(a.writeWorkRecurrence, http.StatusCreated))
}

func (a *API) getWorkRecurrence(kind subjectKind) http.HandlerFunc {
	return mailboxCall(a, kind, auth.ReadWorkPlan, func(r *http.Request, u directory.User) (mailbox.WorkRecurrence, error) {
		return a.mail.WorkRecurrence(r.Context(), ref(u), r.PathValue("rid"))
	}, answer(a.writeWorkRecurrence, http.StatusOK))
}

func (a *API) replaceWorkRecurrence(kind subjectKind) http.HandlerFunc {
	return mailboxCall(a, kind, auth.WriteWorkPlan, func(r *http.Request, u directory.User) (mailbox.WorkRecurrence, error) {
		id := r.PathValue("rid")
		in, err := decodeWorkRecurrence(r, a.maxBody, id)
		if err != nil {
			return mailbox.WorkRecurrence{}, err
		}
		return a.mail.ReplaceWorkRecurrence(r.Context(), ref(u), id, in)
	}, answer(a.writeWorkRecurrence, http.StatusOK))
}

func (a *API) deleteWorkRecurrence(kind subjectKind) http.HandlerFunc {
	return mailboxDelete(a, kind, auth.WriteWorkPlan, "rid", func(r *http.Request, u directory.User, id string) error {
		return a.mail.DeleteWorkRecurrence(r.Context(), ref(u), id)
	})
}
