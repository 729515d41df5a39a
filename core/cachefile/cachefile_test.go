package cachefile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"testing"
)

func sample() (Header, []Record, []string) {
	h := Header{Format: 3, Positions: []Position{{Stream: "KV_presence-0", Created: 1_700_000_000_123456789, Seq: 42}, {Stream: "KV_presence-1", Created: -5, Seq: 0}}}
	recs := []Record{
		{Tenant: "t1", IsGUID: true, GUID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Entry: []byte{7, 1, 2, 3}},
		{Tenant: "t2", ID: "not-a-guid", Entry: []byte{}},
		{Tenant: "t1", ID: "", Entry: bytes.Repeat([]byte{0xaa}, 5000)},
		{Tenant: "", IsGUID: true, Entry: []byte{9}},
	}
	return h, recs, []string{"app:a", "", "app:b"}
}

func encode(t testing.TB, h Header, recs []Record, ids []string) []byte {
	var buf bytes.Buffer
	w := NewWriter(&buf, h)
	for _, r := range recs {
		if err := w.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ids); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func records(s *Snapshot) []Record {
	var out []Record
	s.Each(func(r *Record) {
		c := *r
		c.Entry = bytes.Clone(r.Entry)
		out = append(out, c)
	})
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int // records of sample, repeated to pass the writer's buffer
	}{{"empty", 0}, {"few", 1}, {"many", 40_000}} {
		t.Run(tc.name, func(t *testing.T) {
			h, base, ids := sample()
			var recs []Record
			for i := range tc.n {
				r := base[i%len(base)]
				if r.IsGUID {
					r.GUID[0] = byte(i)
				}
				recs = append(recs, r)
			}
			b := encode(t, h, recs, ids)
			s, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Header, h) || !reflect.DeepEqual(s.SessionIDs, ids) || s.Users != len(recs) {
				t.Fatalf("header %+v ids %q users %d", s.Header, s.SessionIDs, s.Users)
			}
			got := records(s)
			for i := range recs {
				if recs[i].Entry == nil {
					recs[i].Entry = []byte{}
				}
			}
			if len(recs) == 0 {
				recs = nil
			}
			if !reflect.DeepEqual(got, recs) {
				t.Fatalf("records differ: %d against %d", len(got), len(recs))
			}
		})
	}
}

// withCRC is b with its checksum recomputed: a file damaged in a way the
// checksum misses, to reach the structure checks.
func withCRC(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	out := bytes.Clone(b)
	binary.LittleEndian.PutUint32(out[len(out)-4:], crc32.Checksum(out[:len(out)-4], castagnoli))
	return out
}

func TestDecodeRefuses(t *testing.T) {
	h, recs, ids := sample()
	good := encode(t, h, recs, ids)
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x10; return b }
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrNotSnapshot},
		{"other file", []byte("{\"users\":[]}"), ErrNotSnapshot},
		{"other version", append([]byte(Magic), 2, 0, 0, 0, 0), ErrVersion},
		{"too short", append([]byte(Magic), Version, 0), ErrCorrupt},
		{"a bit flipped in a record", flip(60), ErrChecksum},
		{"a bit flipped in the checksum", flip(len(good) - 1), ErrChecksum},
		{"cut short", good[:len(good)-10], ErrChecksum},
		{"cut short, checksum made to match", withCRC(good[:len(good)-10]), ErrCorrupt},
		{"a byte more, checksum made to match", withCRC(append(append(bytes.Clone(good[:len(good)-4]), 0), 0, 0, 0, 0)), ErrCorrupt},
		{"record count wrong", withCRC(func() []byte { b := bytes.Clone(good); b[len(b)-5]++; return b }()), ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzDecode: any bytes are refused with an error or decoded into records
// that write back to the same file; nothing panics.
func FuzzDecode(f *testing.F) {
	h, recs, ids := sample()
	good := encode(f, h, recs, ids)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(encode(f, Header{}, nil, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, withCRC(b)} {
			s, err := Decode(in)
			if err != nil {
				continue
			}
			again := encode(t, s.Header, records(s), s.SessionIDs)
			if _, err := Decode(again); err != nil {
				t.Fatalf("re-encoded file refused: %v", err)
			}
			if s2, _ := Decode(again); !reflect.DeepEqual(records(s2), records(s)) {
				t.Fatal("records changed through a round trip")
			}
		}
	})
}
