package auth

import (
	"fmt"
	"strings"
	"testing"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/presence"
)

// TestAuthorizeTable covers every cell of graph-presence.md §4.2: each
// operation × each kind of token × (own user via /me, own user by id,
// another user).
func TestAuthorizeTable(t *testing.T) {
	me, other := directory.DemoUserAdele, directory.DemoUserAlex
	app := func(roles ...string) Principal {
		return Principal{TenantID: directory.DemoTenantID, ClientID: directory.DemoDaemonClientID, Roles: roles}
	}
	user := func(scopes ...string) Principal {
		return Principal{TenantID: directory.DemoTenantID, ClientID: directory.DemoClientID, UserID: me, Delegated: true, Scopes: scopes}
	}
	principals := map[string]Principal{
		"app-none":      app(),
		"app-R.All":     app(PresenceReadAll),
		"app-RW.All":    app(PresenceReadWriteAll),
		"app-both":      app(PresenceReadAll, PresenceReadWriteAll),
		"user-none":     user("User.Read"),
		"user-R":        user(PresenceRead),
		"user-R.All":    user(PresenceReadAll),
		"user-RW":       user(PresenceReadWrite),
		"user-R+RW":     user(PresenceRead, PresenceReadWrite),
		"user-R.All+RW": user(PresenceReadAll, PresenceReadWrite),
		"user-lower":    user("presence.read.all"),
	}
	// Expected for (via /me, own id, other id): "ok", "400" (Invalid), "403" (Forbidden).
	type cells [3]string
	ok3, no3 := cells{"ok", "ok", "ok"}, cells{"403", "403", "403"}
	appOK := cells{"400", "ok", "ok"}
	appNo := cells{"400", "403", "403"}
	want := map[Operation]map[string]cells{
		ReadPresence: {
			"app-none": appNo, "app-R.All": appOK, "app-RW.All": appOK, "app-both": appOK,
			"user-none": no3, "user-R": {"ok", "ok", "403"}, "user-R.All": ok3, "user-RW": {"ok", "ok", "403"},
			"user-R+RW": {"ok", "ok", "403"}, "user-R.All+RW": ok3, "user-lower": ok3,
		},
		ReadPresences: {
			"app-none": appNo, "app-R.All": appOK, "app-RW.All": appOK, "app-both": appOK,
			"user-none": no3, "user-R": no3, "user-R.All": ok3, "user-RW": no3,
			"user-R+RW": no3, "user-R.All+RW": ok3, "user-lower": ok3,
		},
		WritePresence: {
			"app-none": appNo, "app-R.All": appNo, "app-RW.All": appOK, "app-both": appOK,
			"user-none": no3, "user-R": no3, "user-R.All": no3, "user-RW": {"ok", "ok", "403"},
			"user-R+RW": {"ok", "ok", "403"}, "user-R.All+RW": {"ok", "ok", "403"}, "user-lower": no3,
		},
		WriteLocation: {
			"app-none": appNo, "app-R.All": appNo, "app-RW.All": appOK, "app-both": appOK,
			"user-none": no3, "user-R": no3, "user-R.All": no3, "user-RW": {"ok", "ok", "403"},
			"user-R+RW": {"ok", "ok", "403"}, "user-R.All+RW": {"ok", "ok", "403"}, "user-lower": no3,
		},
		Subscribe: {
			"app-none": appNo, "app-R.All": appNo, "app-RW.All": appNo, "app-both": appNo,
			"user-none": no3, "user-R": no3, "user-R.All": ok3, "user-RW": no3,
			"user-R+RW": no3, "user-R.All+RW": ok3, "user-lower": ok3,
		},
	}
	want[WritePreferred] = want[WritePresence]
	want[WriteStatus] = want[WritePresence]

	for op, byPrincipal := range want {
		for name, c := range byPrincipal {
			p := principals[name]
			for k, subj := range []struct {
				id    string
				viaMe bool
			}{{me, true}, {me, false}, {other, false}} {
				if op == ReadPresences {
					subj.id = "" // getPresencesByUserId has no single subject
				}
				if !p.Delegated && subj.viaMe {
					subj.id = "" // /me with an app token resolves to nobody
				}
				err := Authorize(p, op, subj.id, subj.viaMe)
				got := "ok"
				switch presence.ErrorCode(err) {
				case presence.Invalid:
					got = "400"
				case presence.Forbidden:
					got = "403"
				}
				if err != nil && got == "ok" {
					got = fmt.Sprint(err)
				}
				if got != c[k] {
					t.Errorf("%v, %s, %s: got %s (%v), want %s", op, name, [...]string{"/me", "own id", "other id"}[k], got, err, c[k])
				}
			}
		}
	}
}

func TestAuthorizeMessages(t *testing.T) {
	me, other := directory.DemoUserAdele, directory.DemoUserAlex
	app := Principal{ClientID: directory.DemoDaemonClientID, Roles: []string{PresenceReadAll}}
	tests := []struct {
		p     Principal
		op    Operation
		subj  string
		viaMe bool
		code  presence.Code
		want  string
	}{
		{app, ReadPresence, "", true, presence.Invalid, "/me request is only valid with delegated authentication flow: a signed-in user is required|roles 'Presence.Read.All'"},
		{app, WritePresence, other, false, presence.Forbidden, "Missing permission: setPresence/clearPresence requires the application permission Presence.ReadWrite.All; the token has roles 'Presence.Read.All'."},
		{Principal{}, ReadPresences, "", false, presence.Forbidden, "getPresencesByUserId requires the application permissions Presence.Read.All or Presence.ReadWrite.All; the token has roles none."},
		{app, Subscribe, other, false, presence.Forbidden, "Application permissions are not supported for subscribing to presence; use a delegated token (a signed-in user) with the scope Presence.Read.All."},
		{app, WriteLocation, other, false, presence.Forbidden, "Missing permission: setting or clearing the work location requires the application permission Presence.ReadWrite.All; the token has roles 'Presence.Read.All'."},
		{Principal{Delegated: true, UserID: me, Scopes: []string{PresenceRead}}, WritePresence, me, false, presence.Forbidden,
			"Missing permission: setPresence/clearPresence requires the delegated scope Presence.ReadWrite; the token has scp 'Presence.Read'."},
		{Principal{Delegated: true, UserID: me, Scopes: []string{PresenceReadWrite}}, WritePresence, other, false, presence.Forbidden,
			"Cannot set the presence of another user; a delegated token may write only its own user's presence|" + other},
		{Principal{Delegated: true, UserID: me, Scopes: []string{PresenceReadWrite}}, WriteStatus, other, false, presence.Forbidden,
			"Cannot set the status message of another user"},
		{Principal{Delegated: true, UserID: me, Scopes: []string{PresenceRead}}, ReadPresence, other, false, presence.Forbidden,
			"reading another user's presence requires the delegated scope Presence.Read.All (Presence.Read and Presence.ReadWrite allow reading only the signed-in user's own presence); the token has scp 'Presence.Read'."},
		{Principal{Delegated: true, UserID: me}, ReadPresence, me, true, presence.Forbidden,
			"reading presence requires the delegated scopes Presence.Read or Presence.Read.All or Presence.ReadWrite; the token has scp none."},
		{Principal{Delegated: true, UserID: me, Scopes: []string{PresenceReadWrite}}, Subscribe, me, false, presence.Forbidden,
			"subscribing to presence requires the delegated scope Presence.Read.All"},
		{app, Operation(99), other, false, presence.Internal, "unknown operation 99"},
	}
	for _, tt := range tests {
		err := Authorize(tt.p, tt.op, tt.subj, tt.viaMe)
		if err == nil {
			t.Errorf("%v: allowed", tt.op)
			continue
		}
		wantErr(t, err, tt.code, tt.want)
	}
	// The subject id compares case-insensitively.
	p := Principal{Delegated: true, UserID: me, Scopes: []string{PresenceReadWrite}}
	if err := Authorize(p, WritePresence, strings.ToUpper(me), false); err != nil {
		t.Error(err)
	}
}

// End to end: tokens from the issuer, validated, then authorized.
func TestAuthorizeIssuedTokens(t *testing.T) {
	f := newFixture(t)
	p, err := f.val.Validate(f.appToken(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := Authorize(p, WritePresence, directory.DemoUserDiego, false); err != nil {
		t.Error(err)
	}
	p, err = f.val.Validate(f.userToken(t, directory.DemoUserLynne, "Presence.Read"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Authorize(p, ReadPresence, directory.DemoUserLynne, true); err != nil {
		t.Error(err)
	}
	if Authorize(p, ReadPresence, directory.DemoUserDiego, false) == nil {
		t.Error("Presence.Read read another user")
	}
}

// TestAuthorizeCalendar covers the calendar and mailbox-settings
// permissions: delegated for the token's own user only, application for
// anyone; a refusal names the permission that would allow it.
func TestAuthorizeCalendar(t *testing.T) {
	me, other := directory.DemoUserAdele, directory.DemoUserAlex
	app := func(roles ...string) Principal {
		return Principal{TenantID: directory.DemoTenantID, ClientID: directory.DemoDaemonClientID, Roles: roles}
	}
	user := func(scopes ...string) Principal {
		return Principal{TenantID: directory.DemoTenantID, ClientID: directory.DemoClientID, UserID: me, Delegated: true, Scopes: scopes}
	}
	for _, tc := range []struct {
		name    string
		p       Principal
		op      Operation
		subject string
		want    string // "ok", or a fragment of the 403 message
	}{
		{"app Calendars.Read reads events", app(CalendarsRead), ReadCalendar, other, "ok"},
		{"app Calendars.ReadWrite reads events", app(CalendarsReadWrite), ReadCalendar, other, "ok"},
		{"app Calendars.Read does not write them", app(CalendarsRead), WriteCalendar, other, "Calendars.ReadWrite"},
		{"app with presence roles only: named", app(PresenceReadWriteAll), ReadCalendar, other, "Calendars.Read or Calendars.ReadWrite"},
		{"delegated Calendars.Read reads own events", user(CalendarsRead), ReadCalendar, me, "ok"},
		{"delegated Calendars.ReadWrite writes own events", user(CalendarsReadWrite), WriteCalendar, me, "ok"},
		{"delegated Calendars.Read does not write", user(CalendarsRead), WriteCalendar, me, "Calendars.ReadWrite"},
		{"delegated: another user's calendar is denied", user(CalendarsReadWrite), ReadCalendar, other, "only its own user's calendar"},
		{"app MailboxSettings.Read reads settings", app(MailboxSettingsRead), ReadMailboxSettings, other, "ok"},
		{"app MailboxSettings.Read does not write them", app(MailboxSettingsRead), WriteMailboxSettings, other, "MailboxSettings.ReadWrite"},
		{"app MailboxSettings.ReadWrite writes them", app(MailboxSettingsRW), WriteMailboxSettings, other, "ok"},
		{"delegated MailboxSettings.ReadWrite writes own", user(MailboxSettingsRW), WriteMailboxSettings, me, "ok"},
		{"delegated without the scope: named", user(PresenceReadWrite), ReadMailboxSettings, me, "MailboxSettings.Read or MailboxSettings.ReadWrite"},
		{"delegated: another user's settings are denied", user(MailboxSettingsRW), WriteMailboxSettings, other, "only its own user's mailbox settings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Authorize(tc.p, tc.op, tc.subject, false)
			if tc.want == "ok" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if presence.ErrorCode(err) != presence.Forbidden || !strings.Contains(presence.ErrorMessage(err), tc.want) {
				t.Fatalf("Authorize = %v, want 403 naming %q", err, tc.want)
			}
		})
	}
}
