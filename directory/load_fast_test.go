package directory

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/presenced/presenced/presence"
)

// What the fast decoder rejects and encoding/json would accept is still
// rejected, with the place named.
func TestParseStrictness(t *testing.T) {
	const tenant = `{"id":"b8a2c0d4-6f1e-4a3b-9c5d-7e8f90a1b2c3","name":"N","domains":["n.example"]}`
	const user = `"id":"4d2c9a7e-1b3f-4e5a-8c6d-2f1e0a9b8c7d","tenantId":"b8a2c0d4-6f1e-4a3b-9c5d-7e8f90a1b2c3"`
	for _, c := range []struct{ name, in, want string }{
		{"top-level name twice", `{"tenants":[` + tenant + `],"tenants":[]}`, `"tenants" appears twice`},
		{"name twice in a user", `{"tenants":[` + tenant + `],"users":[{` + user + `,"userPrincipalName":"a@n.example","userPrincipalName":"b@n.example"}]}`, `duplicate object member name "userPrincipalName"|/users/0`},
		{"name in the wrong case", `{"tenants":[` + tenant + `],"users":[{` + user + `,"UserPrincipalName":"a@n.example"}]}`, `UserPrincipalName`},
		{"invalid UTF-8", `{"tenants":[` + tenant + `],"users":[{` + user + `,"userPrincipalName":"a@n.example","displayName":"` + "\xff" + `"}]}`, `UTF-8`},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := Parse([]byte(c.in))
			if err == nil {
				t.Fatalf("accepted: %v", d)
			}
			pe, ok := err.(*presence.Error)
			if !ok || pe.Code != presence.Invalid {
				t.Fatalf("error %T %v, want *presence.Error Invalid", err, err)
			}
			for _, w := range strings.Split(c.want, "|") {
				if !strings.Contains(pe.Message, w) {
					t.Errorf("message %q lacks %q", pe.Message, w)
				}
			}
		})
	}
}

// The fast path shares each tenant id among its users.
func TestParseSharesTenantIDs(t *testing.T) {
	f, err := Parse([]byte(`{"tenants":[{"id":"b8a2c0d4-6f1e-4a3b-9c5d-7e8f90a1b2c3","name":"N","domains":["n.example"]}],
	"users":[{"id":"4d2c9a7e-1b3f-4e5a-8c6d-2f1e0a9b8c7d","tenantId":"b8a2c0d4-6f1e-4a3b-9c5d-7e8f90a1b2c3","userPrincipalName":"a@n.example"},
	{"id":"9e8f7a6b-5c4d-4e3f-a2b1-c0d9e8f7a6b5","tenantId":"b8a2c0d4-6f1e-4a3b-9c5d-7e8f90a1b2c3","userPrincipalName":"b@n.example"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := f.Build()
	a, _ := d.User("a@n.example")
	b, _ := d.User("b@n.example")
	if unsafe.StringData(a.TenantID) != unsafe.StringData(b.TenantID) {
		t.Fatal("each user carries its own copy of the tenant id")
	}
}

// FuzzParse: any input is accepted or refused with an Invalid error, never
// a panic; an accepted directory answers for each of its users by id and by
// UPN; and it never accepts what encoding/json refuses.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"example.json", "bad-duplicate-upn.json", "bad-type.json", "bad-unknown-field.json", "bad-syntax.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			if pe, ok := err.(*presence.Error); !ok || pe.Code != presence.Invalid {
				t.Fatalf("error %T %v, want *presence.Error Invalid", err, err)
			}
			return
		}
		if err := json.Unmarshal(data, new(File)); err != nil {
			t.Fatalf("Parse accepted what encoding/json refuses: %v", err)
		}
		d, err := file.Build()
		if err != nil {
			t.Fatalf("Parse accepted what Build refuses: %v", err)
		}
		for _, ten := range d.Tenants() {
			for _, u := range d.Users(ten.ID) {
				if got, ok := d.User(u.ID); !ok || got != u {
					t.Fatalf("User(%q) = %+v, %v; want %+v", u.ID, got, ok, u)
				}
				if got, ok := d.User(strings.ToLower(u.UserPrincipalName)); !ok || got != u {
					t.Fatalf("User(%q) = %+v, %v; want %+v", strings.ToLower(u.UserPrincipalName), got, ok, u)
				}
			}
		}
	})
}

// trickle hands out its content at most 4,093 bytes at a time, as a
// socket does.
type trickle struct {
	b []byte
}

func (r *trickle) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 4093)], r.b)
	r.b = r.b[n:]
	return n, nil
}

// A file is decoded as it arrives; an error far into it (past the window
// of bytes Decode keeps) still names its line and column, and the user
// entry at fault.
func TestDecodeStreamLocatesErrorsFarIn(t *testing.T) {
	const tid = "b8a2c0d4-6f1e-4a3b-9c5d-7e8f90a1b2c3"
	var b strings.Builder
	b.WriteString(`{"tenants":[{"id":"` + tid + `","name":"N","domains":["n.example"]}],` + "\n" + `"users":[` + "\n")
	const n, bad = 40_000, 31_234
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		field := "displayName"
		if i == bad {
			field = "displayNam"
		}
		fmt.Fprintf(&b, `  {"id":"%08x-0000-4000-8000-000000000000","tenantId":"%s","userPrincipalName":"u%d@n.example","%s":"U"}`, i, tid, i, field)
	}
	b.WriteString("\n]}\n")
	if b.Len() < 3*window {
		t.Fatalf("the file (%d bytes) is not past the window", b.Len())
	}
	_, err := Decode(&trickle{b: []byte(b.String())})
	want := fmt.Sprintf("users[%d] has an unknown field \"displayNam\" (line %d, column", bad, bad+3)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one with %q", err, want)
	}
	good := strings.Replace(b.String(), `"displayNam"`, `"displayName"`, 1)
	f, err := Decode(&trickle{b: []byte(good)})
	if err != nil || len(f.Users) != n {
		t.Fatalf("the good file: %v", err)
	}
	// Its users' strings are the directory's own (not a second copy).
	d, _ := f.Build()
	u, _ := d.User(f.Users[n-1].ID)
	if unsafe.StringData(u.UserPrincipalName) != unsafe.StringData(f.Users[n-1].UserPrincipalName) {
		t.Fatal("a decoded entry keeps its own copy of its userPrincipalName")
	}
}
