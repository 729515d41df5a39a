package presence

import (
	"strings"
	"testing"
)

// One request names at most MaxIDs user ids, every entry counted.
func TestCheckIDCount(t *testing.T) {
	for _, n := range []int{0, 1, MaxIDs} {
		if err := CheckIDCount("ids", "Property 'ids'", n); err != nil {
			t.Errorf("%d ids: %v", n, err)
		}
	}
	err := CheckIDCount("ids", "Property 'ids'", MaxIDs+1)
	if ErrorCode(err) != Invalid || err.(*Error).Field != "ids" ||
		ErrorMessage(err) != "Property 'ids' has 651 entries; at most 650 are accepted (every entry counts, a repeated id too)." {
		t.Fatalf("651 ids: %#v", err)
	}
	if !strings.HasPrefix(ErrorMessage(CheckIDCount("resource", "the id list", 700)), "the id list has 700 entries") {
		t.Fatal("the list is not named as given")
	}
}
