package auth

import (
	"fmt"
	"slices"
	"strings"

	"github.com/presenced/presenced/presence"
)

// Operation is what a request does to presence, for Authorize.
type Operation int

// Operations (graph-presence.md §4.2).
const (
	ReadPresence         Operation = iota + 1 // GET a user's presence (/me, /users/{id}, /communications/presences/{id})
	ReadPresences                             // POST /communications/getPresencesByUserId
	WritePresence                             // setPresence, clearPresence
	WritePreferred                            // setUserPreferredPresence, clearUserPreferredPresence
	WriteStatus                               // setStatusMessage
	WriteLocation                             // setManualLocation, setAutomaticLocation, clearAutomaticLocation, clearLocation
	Subscribe                                 // a change-notification subscription on presence
	ReadCalendar                              // GET events, calendarView
	WriteCalendar                             // POST, PATCH, DELETE events
	ReadMailboxSettings                       // GET mailboxSettings
	WriteMailboxSettings                      // PATCH mailboxSettings
	ListUsers                                 // GET /users
	ReadUser                                  // GET /users/{id}, GET /me
	WriteUsers                                // POST /users, PATCH and DELETE /users/{id}
	ReadWorkPlan                              // GET settings/workHoursAndLocations/occurrences
	WriteWorkPlan                             // POST, PUT, DELETE settings/workHoursAndLocations/occurrences
)

// String names the operation as messages do.
func (op Operation) String() string {
	switch op {
	case ReadPresence:
		return "reading presence"
	case ReadPresences:
		return "getPresencesByUserId"
	case WritePresence:
		return "setPresence/clearPresence"
	case WritePreferred:
		return "setUserPreferredPresence/clearUserPreferredPresence"
	case WriteStatus:
		return "setStatusMessage"
	case WriteLocation:
		return "setting or clearing the work location"
	case Subscribe:
		return "subscribing to presence"
	case ReadCalendar:
		return "reading events"
	case WriteCalendar:
		return "writing events"
	case ReadMailboxSettings:
		return "reading mailboxSettings"
	case WriteMailboxSettings:
		return "writing mailboxSettings"
	case ListUsers:
		return "listing users"
	case ReadUser:
		return "reading a user"
	case WriteUsers:
		return "creating, changing or deleting users"
	case ReadWorkPlan:
		return "reading the work plan"
	case WriteWorkPlan:
		return "writing the work plan"
	}
	return fmt.Sprintf("Operation(%d)", int(op))
}

// Permission names.
const (
	PresenceRead          = "Presence.Read"
	PresenceReadAll       = "Presence.Read.All"
	PresenceReadWrite     = "Presence.ReadWrite"
	PresenceReadWriteAll  = "Presence.ReadWrite.All"
	CalendarsRead         = "Calendars.Read"
	CalendarsReadWrite    = "Calendars.ReadWrite"
	MailboxSettingsRead   = "MailboxSettings.Read"
	MailboxSettingsRW     = "MailboxSettings.ReadWrite"
	UserReadBasicAll      = "User.ReadBasic.All"
	UserReadAll           = "User.Read.All"
	UserRead              = "User.Read"
	UserReadWriteAll      = "User.ReadWrite.All"
	scopeKindDelegated    = "delegated scope"
	scopeKindApplications = "application permission"
)

// rule is one cell pair of the §4.2 table: the permissions that allow an
// operation, for delegated tokens (own user, other users) and app tokens.
type rule struct {
	own, other, app []string // nil: not allowed with that kind of token
}

var rules = map[Operation]rule{
	ReadPresence:   {own: []string{PresenceRead, PresenceReadAll, PresenceReadWrite}, other: []string{PresenceReadAll}, app: []string{PresenceReadAll, PresenceReadWriteAll}},
	ReadPresences:  {own: []string{PresenceReadAll}, other: []string{PresenceReadAll}, app: []string{PresenceReadAll, PresenceReadWriteAll}},
	WritePresence:  {own: []string{PresenceReadWrite}, app: []string{PresenceReadWriteAll}},
	WritePreferred: {own: []string{PresenceReadWrite}, app: []string{PresenceReadWriteAll}},
	WriteStatus:    {own: []string{PresenceReadWrite}, app: []string{PresenceReadWriteAll}},
	// Work location: Graph's pages first allowed delegated Presence.ReadWrite
	// under /me only; the current ones bind the actions to every presence
	// path and allow application Presence.ReadWrite.All (docs/api.md).
	WriteLocation: {own: []string{PresenceReadWrite}, app: []string{PresenceReadWriteAll}},
	Subscribe:     {own: []string{PresenceReadAll}, other: []string{PresenceReadAll}},
	// A delegated token reaches only its own user's calendar and mailbox
	// (presenced has no calendar sharing: Calendars.Read.Shared has nothing
	// to grant).
	ReadCalendar:         {own: []string{CalendarsRead, CalendarsReadWrite}, app: []string{CalendarsRead, CalendarsReadWrite}},
	WriteCalendar:        {own: []string{CalendarsReadWrite}, app: []string{CalendarsReadWrite}},
	ReadMailboxSettings:  {own: []string{MailboxSettingsRead, MailboxSettingsRW}, app: []string{MailboxSettingsRead, MailboxSettingsRW}},
	WriteMailboxSettings: {own: []string{MailboxSettingsRW}, app: []string{MailboxSettingsRW}},
	// The work plan (workHoursAndLocations): Graph allows delegated
	// permissions for the signed-in user's own plan only; application
	// permissions are not supported.
	ReadWorkPlan:  {own: []string{CalendarsRead, CalendarsReadWrite}},
	WriteWorkPlan: {own: []string{CalendarsReadWrite}},
	// Listing the tenant's users (Graph's user-list permissions).
	ListUsers: {other: []string{UserReadBasicAll, UserReadAll, UserReadWriteAll}, app: []string{UserReadAll, UserReadWriteAll}},
	ReadUser:  {own: []string{UserRead, UserReadBasicAll, UserReadAll, UserReadWriteAll}, other: []string{UserReadBasicAll, UserReadAll, UserReadWriteAll}, app: []string{UserReadAll, UserReadWriteAll}},
	// Delegated writes also need the signed-in user to be a User
	// Administrator (checked where the directory is: graphapi).
	WriteUsers: {own: []string{UserReadWriteAll}, other: []string{UserReadWriteAll}, app: []string{UserReadWriteAll}},
}

// Authorize decides whether p may perform op on the presence of the user
// subjectUserID (the object id; empty for getPresencesByUserId). viaMe is
// true when the request addressed the user as /me. It implements
// graph-presence.md §4.2 and semantics §5:
//
//   - /me needs a delegated token (Invalid otherwise: a signed-in user is
//     required).
//   - Reads: delegated Presence.Read, Presence.Read.All or
//     Presence.ReadWrite for the token's own user, Presence.Read.All for
//     others and for getPresencesByUserId; application Presence.Read.All or
//     Presence.ReadWrite.All.
//   - Writes (presence, preferred presence, status message, work
//     location): delegated Presence.ReadWrite, for the token's own user
//     only; application Presence.ReadWrite.All.
//   - Subscriptions: delegated Presence.Read.All only.
//
// A refusal is a Forbidden *presence.Error naming the operation, the
// permissions that would allow it and what the token carries.
func Authorize(p Principal, op Operation, subjectUserID string, viaMe bool) error {
	r, ok := rules[op]
	if !ok {
		return presence.Errorf(presence.Internal, "", "auth: unknown operation %d.", int(op))
	}
	if viaMe && !p.Delegated {
		return presence.Errorf(presence.Invalid, "",
			"/me request is only valid with delegated authentication flow: a signed-in user is required, and this is an application token (roles %s). Use /users/{id}/presence instead.", quoteList(p.Roles))
	}
	if !p.Delegated {
		if r.app == nil {
			return presence.Errorf(presence.Forbidden, "",
				"Application permissions are not supported for %s; use a delegated token (a signed-in user) with the scope %s.", op, strings.Join(r.own, " or "))
		}
		if !hasAny(p.Roles, r.app) {
			return missing(op, scopeKindApplications, r.app, "roles", quoteList(p.Roles))
		}
		return nil
	}
	own := viaMe || (subjectUserID != "" && strings.EqualFold(subjectUserID, p.UserID))
	if op == ReadPresences || op == Subscribe || op == ListUsers {
		own = false
	}
	if own {
		if !hasAny(p.Scopes, r.own) {
			return missing(op, scopeKindDelegated, r.own, "scp", quoteList(p.Scopes))
		}
		return nil
	}
	if r.other == nil {
		// A write to another user: first the scope, then whose presence.
		if !hasAny(p.Scopes, r.own) {
			return missing(op, scopeKindDelegated, r.own, "scp", quoteList(p.Scopes))
		}
		what := "the presence"
		switch op {
		case ReadCalendar, WriteCalendar:
			return presence.Errorf(presence.Forbidden, "",
				"Access is denied: a delegated token reaches only its own user's calendar (the token's user is %s, the request is for %s); use an application token with %s.", p.UserID, subjectUserID, strings.Join(r.app, " or "))
		case ReadWorkPlan, WriteWorkPlan:
			return presence.Errorf(presence.Forbidden, "",
				"Access is denied: a delegated token reaches only its own user's work plan (the token's user is %s, the request is for %s).", p.UserID, subjectUserID)
		case ReadMailboxSettings, WriteMailboxSettings:
			return presence.Errorf(presence.Forbidden, "",
				"Access is denied: a delegated token reaches only its own user's mailbox settings (the token's user is %s, the request is for %s); use an application token with %s.", p.UserID, subjectUserID, strings.Join(r.app, " or "))
		case WriteStatus:
			what = "the status message"
		case WritePreferred:
			what = "the preferred presence"
		case WriteLocation:
			what = "the work location"
		}
		return presence.Errorf(presence.Forbidden, "",
			"Cannot set %s of another user; a delegated token may write only its own user's presence (the token's user is %s, the request is for %s).", what, p.UserID, subjectUserID)
	}
	if !hasAny(p.Scopes, r.other) {
		if op == ReadPresence {
			return presence.Errorf(presence.Forbidden, "",
				"Missing permission: reading another user's presence requires the delegated scope %s (%s and %s allow reading only the signed-in user's own presence); the token has scp %s.",
				PresenceReadAll, PresenceRead, PresenceReadWrite, quoteList(p.Scopes))
		}
		return missing(op, scopeKindDelegated, r.other, "scp", quoteList(p.Scopes))
	}
	return nil
}

func missing(op Operation, kind string, allow []string, claim, has string) error {
	k := kind
	if len(allow) > 1 {
		k += "s"
	}
	return presence.Errorf(presence.Forbidden, "", "Missing permission: %s requires the %s %s; the token has %s %s.",
		op, k, strings.Join(allow, " or "), claim, has)
}

func hasAny(have, allow []string) bool {
	for _, h := range have {
		if slices.ContainsFunc(allow, func(a string) bool { return strings.EqualFold(a, h) }) {
			return true
		}
	}
	return false
}

func quoteList(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return "'" + strings.Join(s, " ") + "'"
}
