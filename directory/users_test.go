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
		users := make([]User, n, n+1)
		for i := range users {
			users[i] = User{
				ID:                fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i),
				UserPrincipalName: fmt.Sprintf("User%d@Contoso.dev", i),
				DisplayName:       fmt.Sprintf("User %d", i),
			}
		}
		tab := newUserTable(append(users, users[n/2])) // the last one again
		for i, u := range users {
			if dupID, dupUPN := tab.add(u, 0); dupID >= 0 || dupUPN >= 0 {
				t.Fatalf("n=%d: user %d a duplicate of %d/%d", n, i, dupID, dupUPN)
			}
		}
		for i, u := range users {
			if got := tab.lookupID(u.ID); got != i {
				t.Fatalf("n=%d: id of user %d finds %d", n, i, got)
			}
			if got := tab.lookupUPN(strings.ToLower(u.UserPrincipalName)); got != i {
				t.Fatalf("n=%d: UPN of user %d finds %d", n, i, got)
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
		// Adding a user again is refused, naming the holder.
		if dupID, dupUPN := tab.add(users[n/2], 0); dupID != n/2 || dupUPN != n/2 || tab.len() != n {
			t.Fatalf("n=%d: re-adding user %d: dup %d/%d, %d users", n, n/2, dupID, dupUPN, tab.len())
		}
	}
}
