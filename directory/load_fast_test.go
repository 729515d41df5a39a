package directory

import (
	"testing"
	"unsafe"
)

func TestDistinctTopLevelKeys(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{`{"tenants":[],"users":[]}`, true},
		{`{"tenants":[],"tenants":[]}`, false},
		{`{"users":[{"users":1,"tenants":2}],"tenants":[]}`, true},
		{`{"a\"b":1,"a\"b":2}`, false},
		{`{"x":"tenants\",\"tenants","tenants":[]}`, true},
		{`{"x":{"y":1},"y":2}`, true},
	} {
		if got := distinctTopLevelKeys([]byte(c.in)); got != c.want {
			t.Errorf("%s: %v, want %v", c.in, got, c.want)
		}
	}
}

// The fast path shares each tenant id among its users.
func TestParseSharesTenantIDs(t *testing.T) {
	d, err := Parse([]byte(`{"tenants":[{"id":"b8a2c0d4-6f1e-4a3b-9c5d-7e8f90a1b2c3","name":"N","domains":["n.example"]}],
	"users":[{"id":"4d2c9a7e-1b3f-4e5a-8c6d-2f1e0a9b8c7d","tenantId":"b8a2c0d4-6f1e-4a3b-9c5d-7e8f90a1b2c3","userPrincipalName":"a@n.example"},
	{"id":"9e8f7a6b-5c4d-4e3f-a2b1-c0d9e8f7a6b5","tenantId":"b8a2c0d4-6f1e-4a3b-9c5d-7e8f90a1b2c3","userPrincipalName":"b@n.example"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := d.User("a@n.example")
	b, _ := d.User("b@n.example")
	if unsafe.StringData(a.TenantID) != unsafe.StringData(b.TenantID) {
		t.Fatal("each user carries its own copy of the tenant id")
	}
}
