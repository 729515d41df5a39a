// Package cachefile is the file the core's cache is saved in at shutdown
// (and periodically) and loaded from at start, so that a restart serves
// every user from memory at once instead of warming the cache from the
// engine for half a minute. It only encodes and decodes: no I/O beyond
// the io.Writer it is given, no clock. The core decides what goes in it
// and how far it can be trusted (docs/design.md, "Restarting from a
// snapshot of the cache").
//
// Layout, version 1. Integers are uvarints unless said; a string is its
// length and its bytes.
//
//	magic        "PRSCACHE"
//	version      one byte: 1
//	format       the layout of the entries (the core's own; a core that
//	             does not know it refuses the file)
//	positions    count, then each: stream name, created (varint, Unix
//	             nanoseconds), sequence
//	records      each: tenant number + 1, then a kind byte (0: the user id
//	             is a canonical GUID, its 16 bytes follow; 1: the id as a
//	             string), then the entry (a string); a 0 ends them
//	tenants      count, then each tenant id (record n names tenants[n-1])
//	session ids  count, then each (the entries number them)
//	users        the number of records
//	checksum     CRC-32C (Castagnoli) of everything before, 4 bytes little endian
//
// The tables come after the records because the writer streams the
// records (a million users are ~100 MB: holding them to count first would
// double the memory a save needs) and learns the tenants and session ids
// as it goes. The reader checks the checksum and the whole structure
// before it hands out a record, so a damaged file is refused whole.
package cachefile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Magic starts every file.
const Magic = "PRSCACHE"

// Version is the layout this package writes and reads.
const Version = 1

// Errors a caller tells apart (errors.Is): each means the file cannot be
// used, for the reason it names.
var (
	ErrNotSnapshot = errors.New("not a cache snapshot")
	ErrVersion     = errors.New("a cache snapshot of another version")
	ErrChecksum    = errors.New("the cache snapshot's checksum does not match: the file is damaged")
	ErrCorrupt     = errors.New("the cache snapshot is malformed")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Position is where one partition's stream stood when the cache was saved.
type Position struct {
	Stream  string
	Created int64
	Seq     uint64
}

// Header is what the file says about the records.
type Header struct {
	// Format is the layout of the entries, which the core defines.
	Format    uint64
	Positions []Position
}

// Record is one cached user.
type Record struct {
	Tenant string
	// GUID is the user id's 16 bytes when IsGUID; otherwise ID is the id.
	GUID   [16]byte
	IsGUID bool
	ID     string
	// Entry is the core's entry, opaque here. From Snapshot.Each it is a
	// slice of the decoded bytes: copy it to keep it.
	Entry []byte
}

const (
	kindGUID = 0
	kindID   = 1
)

// flushAt is how much the writer buffers before it writes.
const flushAt = 64 << 10

// Writer streams a snapshot to an io.Writer: NewWriter, Add for each
// user, then Close.
type Writer struct {
	w       io.Writer
	buf     []byte
	crc     uint32
	tenants map[string]uint64
	names   []string
	users   uint64
	err     error
}

// NewWriter starts a snapshot with h.
func NewWriter(w io.Writer, h Header) *Writer {
	sw := &Writer{w: w, tenants: make(map[string]uint64), buf: make([]byte, 0, flushAt+4096)}
	sw.buf = append(sw.buf, Magic...)
	sw.buf = append(sw.buf, Version)
	sw.buf = binary.AppendUvarint(sw.buf, h.Format)
	sw.buf = binary.AppendUvarint(sw.buf, uint64(len(h.Positions)))
	for _, p := range h.Positions {
		sw.buf = appendString(sw.buf, p.Stream)
		sw.buf = binary.AppendVarint(sw.buf, p.Created)
		sw.buf = binary.AppendUvarint(sw.buf, p.Seq)
	}
	return sw
}

// Add writes one user's record.
func (sw *Writer) Add(r Record) error {
	if sw.err != nil {
		return sw.err
	}
	t, ok := sw.tenants[r.Tenant]
	if !ok {
		t = uint64(len(sw.names))
		sw.tenants[r.Tenant] = t
		sw.names = append(sw.names, r.Tenant)
	}
	sw.buf = binary.AppendUvarint(sw.buf, t+1)
	if r.IsGUID {
		sw.buf = append(sw.buf, kindGUID)
		sw.buf = append(sw.buf, r.GUID[:]...)
	} else {
		sw.buf = append(sw.buf, kindID)
		sw.buf = appendString(sw.buf, r.ID)
	}
	sw.buf = binary.AppendUvarint(sw.buf, uint64(len(r.Entry)))
	sw.buf = append(sw.buf, r.Entry...)
	sw.users++
	if len(sw.buf) >= flushAt {
		sw.flush()
	}
	return sw.err
}

// Close ends the records, writes the tables (sessionIDs: the entries'
// numbered session ids, in number order) and the checksum. The caller
// then syncs and closes what it wrote to.
func (sw *Writer) Close(sessionIDs []string) error {
	if sw.err != nil {
		return sw.err
	}
	sw.buf = append(sw.buf, 0)
	sw.buf = binary.AppendUvarint(sw.buf, uint64(len(sw.names)))
	for _, n := range sw.names {
		sw.buf = appendString(sw.buf, n)
	}
	sw.buf = binary.AppendUvarint(sw.buf, uint64(len(sessionIDs)))
	for _, id := range sessionIDs {
		sw.buf = appendString(sw.buf, id)
		if len(sw.buf) >= flushAt {
			sw.flush()
		}
	}
	sw.buf = binary.AppendUvarint(sw.buf, sw.users)
	sw.crc = crc32.Update(sw.crc, castagnoli, sw.buf)
	sw.buf = binary.LittleEndian.AppendUint32(sw.buf, sw.crc)
	if _, err := sw.w.Write(sw.buf); err != nil && sw.err == nil {
		sw.err = err
	}
	sw.buf = nil
	return sw.err
}

func (sw *Writer) flush() {
	sw.crc = crc32.Update(sw.crc, castagnoli, sw.buf)
	if _, err := sw.w.Write(sw.buf); err != nil {
		sw.err = err
	}
	sw.buf = sw.buf[:0]
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Snapshot is a decoded file: its header and tables, and its records,
// which Each hands out.
type Snapshot struct {
	Header
	Tenants    []string
	SessionIDs []string
	Users      int
	records    []byte // the records, validated, without the terminating 0
}

// Decode checks b (the whole file) and decodes its header and tables.
// The records stay in b, which must not change while the Snapshot is used.
func Decode(b []byte) (*Snapshot, error) {
	if len(b) < len(Magic)+1 || string(b[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("cachefile: %w", ErrNotSnapshot)
	}
	if v := b[len(Magic)]; v != Version {
		return nil, fmt.Errorf("cachefile: %w: version %d, this build reads %d", ErrVersion, v, Version)
	}
	if len(b) < len(Magic)+1+4 {
		return nil, fmt.Errorf("cachefile: %w: %d bytes", ErrCorrupt, len(b))
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("cachefile: %w", ErrChecksum)
	}
	r := reader{b: body[len(Magic)+1:]}
	s := &Snapshot{}
	s.Format = r.uvarint()
	n := r.count(1 + 1 + 1)
	s.Positions = make([]Position, 0, n)
	for range n {
		s.Positions = append(s.Positions, Position{Stream: r.string(), Created: r.varint(), Seq: r.uvarint()})
	}
	start := len(body) - len(r.b)
	end := start // where the terminating 0 starts (it may be written in more than one byte)
	var users int
	maxTenant := uint64(0)
	for r.err == nil {
		end = len(body) - len(r.b)
		t := r.uvarint()
		if t == 0 {
			break
		}
		maxTenant = max(maxTenant, t)
		switch r.byte() {
		case kindGUID:
			r.skip(16)
		case kindID:
			r.skip(r.count(1))
		default:
			r.fail("a record of unknown kind")
		}
		r.skip(r.count(1))
		users++
	}
	s.Tenants = r.strings()
	s.SessionIDs = r.strings()
	if u := r.uvarint(); r.err == nil && u != uint64(users) {
		r.fail(fmt.Sprintf("%d records, the file says %d", users, u))
	}
	if r.err == nil && maxTenant > uint64(len(s.Tenants)) {
		r.fail(fmt.Sprintf("a record names tenant %d of %d", maxTenant, len(s.Tenants)))
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d bytes after the end", len(r.b)))
	}
	if r.err != nil {
		return nil, fmt.Errorf("cachefile: %w: %s", ErrCorrupt, r.err)
	}
	s.Users, s.records = users, body[start:end]
	return s, nil
}

// Each calls fn with every record, in the order they were written. The
// record's strings and Entry are valid during the call only (Tenant and
// ID are the snapshot's or fresh; Entry is a slice of the file).
func (s *Snapshot) Each(fn func(r *Record)) {
	rd := reader{b: s.records}
	var rec Record
	for len(rd.b) > 0 {
		rec = Record{Tenant: s.Tenants[rd.uvarint()-1]}
		if rd.byte() == kindGUID {
			rec.IsGUID = true
			copy(rec.GUID[:], rd.b[:16])
			rd.b = rd.b[16:]
		} else {
			rec.ID = rd.string()
		}
		n := rd.uvarint()
		rec.Entry = rd.b[:n:n]
		rd.b = rd.b[n:]
		fn(&rec)
	}
}

// reader reads the layout's integers and strings, remembering the first
// thing wrong; after it, every read returns zero.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(why string) {
	if r.err == nil {
		r.err = errors.New(why)
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("a number cut short or too long")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("a number cut short or too long")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail("cut short")
		return 0xff
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// count reads a count of items of at least min bytes each, and checks
// that the rest of the file can hold them.
func (r *reader) count(minBytes int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/minBytes) {
		r.fail("a count larger than the file")
		return 0
	}
	return int(n)
}

func (r *reader) skip(n int) {
	if n > len(r.b) {
		r.fail("cut short")
		return
	}
	r.b = r.b[n:]
}

func (r *reader) string() string {
	n := r.count(1)
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) strings() []string {
	n := r.count(1)
	out := make([]string, 0, n)
	for range n {
		out = append(out, r.string())
	}
	return out
}
