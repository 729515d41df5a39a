package dirstore

import (
	"reflect"
	"testing"

	"github.com/presenced/presenced/directory"
)

func samplePage() []directory.UserEntry {
	return []directory.UserEntry{
		{ID: directory.DemoUserAdele, TenantID: directory.DemoTenantID, UserPrincipalName: "adele@contoso.dev", DisplayName: "Adele Vance", Mail: "adele@contoso.dev",
			PasswordHash: directory.DemoPasswordHash, ExternalID: "adelev", GivenName: "Adele", FamilyName: "Vance", UserAdministrator: true},
		{ID: directory.DemoUserAlex, TenantID: directory.DemoTenantID, UserPrincipalName: "alex@contoso.dev", AccountEnabled: directory.Bool(false)},
		{ID: directory.DemoUserMegan, TenantID: directory.DemoTenantID, UserPrincipalName: "zoë@contoso.dev", DisplayName: "Zoë 🙂"},
	}
}

// A page reads back as it was written (an enabled account reads back as
// AccountEnabled nil, the default).
func TestPageRoundTrip(t *testing.T) {
	for _, users := range [][]directory.UserEntry{nil, samplePage()} {
		got, err := decodePage(directory.DemoTenantID, encodePage(users))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 && len(users) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, users) {
			t.Fatalf("read back %+v\nwant %+v", got, users)
		}
	}
}

// FuzzDecodePage: any bytes are refused or decoded, never a panic, and what
// decodes encodes to the same bytes.
func FuzzDecodePage(f *testing.F) {
	f.Add(encodePage(samplePage()))
	f.Add(encodePage(nil))
	f.Add([]byte{1, 255, 255, 255, 255, 15})
	f.Fuzz(func(t *testing.T, b []byte) {
		users, err := decodePage(directory.DemoTenantID, b)
		if err != nil {
			return
		}
		if again := encodePage(users); string(again) != string(b) {
			// Varints have one shortest form; a longer one decodes too.
			users2, err := decodePage(directory.DemoTenantID, again)
			if err != nil || !reflect.DeepEqual(users, users2) {
				t.Fatalf("re-encoded page reads differently: %v", err)
			}
		}
	})
}
