package graphapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/calendar"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/presence"
)

// actionSpec is one bound action of the presence entity. status is its
// success status (200 unless said).
type actionSpec struct {
	op     auth.Operation
	decode func(a *API, r *http.Request, p auth.Principal) (presence.Command, error)
	status int
}

var actions = map[string]actionSpec{
	"setPresence":                {auth.WritePresence, decodeSetPresence, 0},
	"clearPresence":              {auth.WritePresence, decodeClearPresence, 0},
	"setUserPreferredPresence":   {auth.WritePreferred, decodeSetPreferred, 0},
	"clearUserPreferredPresence": {auth.WritePreferred, decodeClearPreferred, 0},
	"setStatusMessage":           {auth.WriteStatus, decodeSetStatus, 0},
	"setManualLocation":          {auth.WriteLocation, decodeSetLocation("setManualLocation", presence.LayerManual), 0},
	"setAutomaticLocation":       {auth.WriteLocation, decodeSetLocation("setAutomaticLocation", presence.LayerAutomatic), 0},
	"clearLocation":              {auth.WriteLocation, decodeClear("clearLocation", presence.ClearLocation{}), 0},
	// Graph's page for clearAutomaticLocation answers 204, the others 200.
	"clearAutomaticLocation": {auth.WriteLocation, decodeClear("clearAutomaticLocation", presence.ClearAutomaticLocation{}), http.StatusNoContent},
}

func actionNames() string {
	n := make([]string, 0, len(actions))
	for k := range actions {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// action serves POST …/presence/{action}: authenticate, resolve the user,
// authorise, decode strictly, then write. Nothing is written unless every
// check passed.
func (a *API) action(kind subjectKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("action")
		spec, known := actions[name]
		a.serveAction(w, r, kind, r.PathValue("id"), name, spec, known)
	}
}

// serveAction is action of the user the path names by id (unused for
// /me), and of the action name (its spec, looked up by the caller, when
// known). The checks and the decoding are
// actionCommand's, in a frame of its own that has returned before the
// write: a write's deepest calls (core's, the engine's) then fit, with
// the connection's frames, in 8 KiB of stack (TestSetPresenceStack).
func (a *API) serveAction(w http.ResponseWriter, r *http.Request, kind subjectKind, id, name string, spec actionSpec, known bool) {
	u, cmd, status, ok := a.actionCommand(w, r, kind, id, name, spec, known)
	if !ok {
		return
	}
	if _, err := a.core.Write(r.Context(), u, cmd); err != nil {
		a.writeError(w, r, err)
		return
	}
	if status == http.StatusNoContent {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// No Content-Length of our own: net/http writes "Content-Length: 0"
	// for a handler that ends without a body, from a buffer of its own
	// (one header fewer in the map it copies at WriteHeader).
	w.WriteHeader(http.StatusOK)
}

// actionCommand authenticates the caller, resolves the user, authorises,
// decodes the body: the user and command to write and the action's
// success status, or ok false once it has answered the error.
//
//go:noinline
func (a *API) actionCommand(w http.ResponseWriter, r *http.Request, kind subjectKind, id, name string, spec actionSpec, known bool) (_ core.UserRef, _ presence.Command, status int, ok bool) {
	p, err := a.caller(r)
	if err != nil {
		a.writeError(w, r, err)
		return core.UserRef{}, nil, 0, false
	}
	if !known {
		a.writeError(w, r, errBody(http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("Resource not found for the segment '%s'. The presence actions are %s.", clip(name), actionNames())))
		return core.UserRef{}, nil, 0, false
	}
	u, err := a.subjectID(kind, p, id)
	if err != nil {
		a.writeError(w, r, err)
		return core.UserRef{}, nil, 0, false
	}
	if !strings.EqualFold(u.TenantID, p.TenantID) {
		// Named as the caller named them: by an id, the other tenant's
		// userPrincipalName is not the caller's to learn.
		a.writeError(w, r, presence.Errorf(presence.Forbidden, "id",
			"User '%s' belongs to another tenant: presence across tenants may be read under mutual trust, but never written.", clip(id)))
		return core.UserRef{}, nil, 0, false
	}
	if err := auth.Authorize(p, spec.op, u.ID, kind == subjectMe); err != nil {
		a.writeError(w, r, err)
		return core.UserRef{}, nil, 0, false
	}
	if err := noOptions(r); err != nil {
		a.writeError(w, r, err)
		return core.UserRef{}, nil, 0, false
	}
	cmd, err := spec.decode(a, r, p)
	if err != nil {
		a.writeError(w, r, err)
		return core.UserRef{}, nil, 0, false
	}
	if set, ok := cmd.(presence.SetLocation); ok {
		// The signal lasts until the end of the user's day, in the time
		// zone of their mailbox settings.
		if set.Zone, err = a.userZone(r.Context(), u); err != nil {
			a.writeError(w, r, err)
			return core.UserRef{}, nil, 0, false
		}
		cmd = set
	}
	return ref(u), cmd, spec.status, true
}

// parseExpiration parses an optional expirationDuration. Absent (or null)
// it is 0, and the domain applies its own default; given, it must be a
// duration in [min, max]. PT0S and P0D are durations out of that range,
// not a way to ask for the default (the domain's 0), so they are refused
// as any other value out of range is; so is "", which is no duration.
func parseExpiration(s optString, min, max time.Duration) (time.Duration, error) {
	if !s.given {
		return 0, nil
	}
	v, err := presence.ParseDuration(s.v)
	if err != nil {
		return 0, presence.Errorf(presence.Invalid, "expirationDuration", "expirationDuration: %s", presence.ErrorMessage(err))
	}
	if err := presence.CheckRange("expirationDuration", v, min, max); err != nil {
		return 0, err
	}
	return v, nil
}

func decodeSetPresence(a *API, r *http.Request, p auth.Principal) (presence.Command, error) {
	// One value for the parameters and the command: each parameter's
	// pointer escapes (to the decoder), and four variables were four
	// allocations per write; the command, boxed in presence.Command, was
	// one more. The strings are decoded into the command's own fields,
	// not copied there (144 → 96 bytes a write).
	in := new(struct {
		exp optString
		cmd presence.SetPresence
	})
	c := &in.cmd
	err := decodeBody(r, a.maxBody, "setPresence", false,
		param{"sessionId", &c.SessionID}, param{"availability", &c.Pair.Availability}, param{"activity", &c.Pair.Activity}, param{"expirationDuration", &in.exp})
	if err != nil {
		return nil, err
	}
	if err := presence.ValidateSessionID(c.SessionID, p.ClientID); err != nil {
		return nil, err
	}
	if c.Expiration, err = parseExpiration(in.exp, presence.SessionMinExpiration, presence.SessionMaxExpiration); err != nil {
		return nil, err
	}
	c.Limits = a.limits
	return c, nil
}

func decodeClearPresence(a *API, r *http.Request, p auth.Principal) (presence.Command, error) {
	var sessionID string
	if err := decodeBody(r, a.maxBody, "clearPresence", false, param{"sessionId", &sessionID}); err != nil {
		return nil, err
	}
	if err := presence.ValidateSessionID(sessionID, p.ClientID); err != nil {
		return nil, err
	}
	return presence.ClearPresence{SessionID: sessionID}, nil
}

func decodeSetPreferred(a *API, r *http.Request, _ auth.Principal) (presence.Command, error) {
	var avail, act string
	var exp optString
	err := decodeBody(r, a.maxBody, "setUserPreferredPresence", false,
		param{"availability", &avail}, param{"activity", &act}, param{"expirationDuration", &exp})
	if err != nil {
		return nil, err
	}
	d, err := parseExpiration(exp, presence.PreferredMinExpiration, presence.PreferredMaxExpiration)
	if err != nil {
		return nil, err
	}
	return presence.SetPreferred{Pair: presence.Pair{Availability: avail, Activity: act}, Expiration: d}, nil
}

func decodeClearPreferred(a *API, r *http.Request, _ auth.Principal) (presence.Command, error) {
	if err := decodeBody(r, a.maxBody, "clearUserPreferredPresence", true); err != nil {
		return nil, err
	}
	return presence.ClearPreferred{}, nil
}

func decodeSetStatus(a *API, r *http.Request, _ auth.Principal) (presence.Command, error) {
	var cmd presence.SetStatus
	var haveStatus, haveMessage bool
	var published string
	message := func(raw json.RawMessage) error {
		haveMessage = true
		return decodeObject(raw, "setStatusMessage", "statusMessage.message.", []param{
			{"content", &cmd.Content}, {"contentType", &cmd.ContentType},
		})
	}
	expiry := func(raw json.RawMessage) error {
		cmd.Expiry = &presence.DateTimeTimeZone{}
		return decodeObject(raw, "setStatusMessage", "statusMessage.expiryDateTime.", []param{
			{"dateTime", &cmd.Expiry.DateTime}, {"timeZone", &cmd.Expiry.TimeZone},
		})
	}
	status := func(raw json.RawMessage) error {
		haveStatus = true
		return decodeObject(raw, "setStatusMessage", "statusMessage.", []param{
			{"message", message}, {"expiryDateTime", expiry}, {"publishedDateTime", &published},
		})
	}
	if err := decodeBody(r, a.maxBody, "setStatusMessage", false, param{"statusMessage", status}); err != nil {
		return nil, err
	}
	switch {
	case !haveStatus:
		return nil, presence.Errorf(presence.Invalid, "statusMessage", "Property 'statusMessage' is required, e.g. {\"statusMessage\":{\"message\":{\"content\":\"In a workshop\",\"contentType\":\"text\"}}}.")
	case !haveMessage:
		return nil, presence.Errorf(presence.Invalid, "statusMessage.message", "Property 'statusMessage.message' is required; send an empty content to clear the status message.")
	case published != "":
		return nil, presence.Errorf(presence.Invalid, "statusMessage.publishedDateTime", "Property 'statusMessage.publishedDateTime' is read-only: the server sets it.")
	}
	if cmd.ContentType == "" {
		cmd.ContentType = "text"
	}
	return cmd, nil
}

// decodeSetLocation decodes setManualLocation and setAutomaticLocation:
// workLocationType (office, remote, timeOff) and an optional placeId.
func decodeSetLocation(action string, layer presence.LocationLayer) func(*API, *http.Request, auth.Principal) (presence.Command, error) {
	return func(a *API, r *http.Request, _ auth.Principal) (presence.Command, error) {
		var typ string
		var place optString
		if err := decodeBody(r, a.maxBody, action, false, param{"workLocationType", &typ}, param{"placeId", &place}); err != nil {
			return nil, err
		}
		return presence.SetLocation{Layer: layer, Type: typ, PlaceID: place.v}, nil
	}
}

// decodeClear decodes an action that takes no parameters: Graph's pages
// say to send no body; an empty JSON object is accepted too.
func decodeClear(action string, cmd presence.Command) func(*API, *http.Request, auth.Principal) (presence.Command, error) {
	return func(a *API, r *http.Request, _ auth.Principal) (presence.Command, error) {
		if err := decodeBody(r, a.maxBody, action, true); err != nil {
			return nil, err
		}
		return cmd, nil
	}
}

// userZone is the time zone of u's mailbox settings (UTC until they set
// one, or when the server serves no mailbox).
func (a *API) userZone(ctx context.Context, u directory.User) (*time.Location, error) {
	if a.mail == nil {
		return time.UTC, nil
	}
	s, err := a.mail.Settings(ctx, ref(u))
	if err != nil {
		return nil, err
	}
	z, err := calendar.Zone(s.TimeZone, "timeZone")
	if err != nil {
		// Settings are checked when written: a zone that no longer
		// resolves (a zone database without it) counts as UTC.
		return time.UTC, nil
	}
	return z, nil
}
