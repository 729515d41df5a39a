package directory

import (
	"fmt"
	"strings"
	"testing"
)

// Every user added is found by id and by UPN in any case, and ids and UPNs
// never added are not, at table sizes around the points where the slots'
// split between user number and hash tag moves (the tag shrinks as the
// table grows).
func TestUserTableLookups(t *testing.T) {
	for _, n := range []int{1, 2, 7, 255, 256, 257, 4095, 4096, 20000} {
		users := make([]User, n)
		arena := 0
		for i := range users {
			users[i] = User{
				ID:                fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i),
				UserPrincipalName: fmt.Sprintf("User%d@Contoso.dev", i),
				DisplayName:       fmt.Sprintf("User %d", i),
				Mail:              fmt.Sprintf("u%d@contoso.dev", i),
				AccountEnabled:    i%2 == 0, HasPassword: i%3 == 0, UserAdministrator: i%5 == 0,
			}
			arena += arenaBytes(&users[i])
		}
		tb := newTableBuilder(n+1, arena+arenaBytes(&users[n/2]))
		for i := range users {
			tb.add(&users[i], 0)
		}
		tb.add(&users[n/2], 0) // the same user again
		tab := tb.finish()
		for i, u := range users {
			if dupID, dupUPN := tab.index(i); dupID >= 0 || dupUPN >= 0 {
				t.Fatalf("n=%d: user %d a duplicate of %d/%d", n, i, dupID, dupUPN)
			}
			if got := tab.user(i); got != u {
				t.Fatalf("n=%d: user %d reads back as %+v, want %+v", n, i, got, u)
			}
		}
		for i, u := range users {
			if got := tab.lookupID(u.ID); got != i {
				t.Fatalf("n=%d: id of user %d finds %d", n, i, got)
			}
			if got := tab.lookupUPN(strings.ToLower(u.UserPrincipalName)); got != i {
				t.Fatalf("n=%d: UPN of user %d finds %d", n, i, got)
			}
			if got := tab.page(i); got != Page(u.ID) {
				t.Fatalf("n=%d: user %d on page %d, want %d", n, i, got, Page(u.ID))
			}
		}
		for i := n; i < n+1000; i++ {
			if got := tab.lookupID(fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)); got != -1 {
				t.Fatalf("n=%d: unknown id %d finds %d", n, i, got)
			}
			if got := tab.lookupUPN(fmt.Sprintf("user%d@contoso.dev", i)); got != -1 {
				t.Fatalf("n=%d: unknown UPN %d finds %d", n, i, got)
			}
		}
		// Indexing a user again is refused, naming the holder.
		if dupID, dupUPN := tab.index(n); dupID != n/2 || dupUPN != n/2 {
			t.Fatalf("n=%d: re-adding user %d: dup %d/%d", n, n/2, dupID, dupUPN)
		}
	}
}
