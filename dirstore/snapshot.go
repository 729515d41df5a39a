package dirstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/store"
)

// A snapshot is the directory as this node holds it, saved beside the
// engine with the bucket position it reflects, so that a start builds the
// directory from one file while the engine is still recovering (issue #16
// point 1), then reads only what was written to the bucket after that
// position — usually nothing (docs/design.md, "Restarting from a saved
// directory"). It is never trusted beyond that: a file of another stream,
// or ahead of the engine, is refused, and the directory is read from the
// engine as without it.
//
// Layout, version 1. A length is a uvarint.
//
//	magic      "PRSDIRSN"
//	version    one byte: 1
//	position   the bucket's stream: name (length, bytes), created (varint,
//	           Unix nanoseconds), the sequence reflected (uvarint)
//	current    length, the `current` record's JSON
//	seen       count, then each key (length, bytes) and its revision
//	directory  length, directory.AppendSnapshot's bytes
//	checksum   CRC-32C (Castagnoli) of everything before, 4 bytes little endian
const (
	snapMagic   = "PRSDIRSN"
	snapVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot is a saved directory, decoded and checked (DecodeSnapshot),
// for Options.Snapshot. It is used once.
type Snapshot struct {
	pos  store.Position
	cur  current
	seen map[string]uint64
	dir  *directory.Directory
}

// Users is how many users the saved directory has.
func (s *Snapshot) Users() int { return s.dir.UserCount() }

// Seq is the bucket sequence the saved directory reflects.
func (s *Snapshot) Seq() uint64 { return s.pos.Seq }

// ErrNoSnapshot: the bucket cannot be read from a position (not
// store.Resumable), so a snapshot can be neither written nor used.
var ErrNoSnapshot = errors.New("dirstore: the directory's bucket cannot be read from a position")

// WriteSnapshot writes the directory as it is now, with the bucket
// position it reflects, and returns its number of users and the sequence
// saved.
func (s *Store) WriteSnapshot(ctx context.Context, w io.Writer) (users int, seq uint64, err error) {
	r, ok := s.kv.(store.Resumable)
	if !ok {
		return 0, 0, ErrNoSnapshot
	}
	ps, err := r.Positions(ctx)
	if err != nil {
		return 0, 0, err
	}
	if len(ps) != 1 {
		return 0, 0, fmt.Errorf("dirstore: %d partitions in the directory's bucket", len(ps))
	}
	// The directory, the revisions it reflects and its position are taken
	// together: every change of the directory holds st (txn.go, follow.go).
	s.st.Lock()
	pos := ps[0]
	pos.Seq = s.applied
	cur, seen, d := s.cur, maps.Clone(s.seen), s.dir.Snapshot()
	s.st.Unlock()

	cj, err := json.Marshal(cur)
	if err != nil {
		return 0, 0, err
	}
	b := append([]byte(snapMagic), snapVersion)
	b = appendString(b, pos.Stream)
	b = binary.AppendVarint(b, pos.Created)
	b = binary.AppendUvarint(b, pos.Seq)
	b = appendString(b, string(cj))
	b = binary.AppendUvarint(b, uint64(len(seen)))
	for k, rev := range seen {
		b = appendString(b, k)
		b = binary.AppendUvarint(b, rev)
	}
	db, err := directory.AppendSnapshot(nil, d)
	if err != nil {
		return 0, 0, err
	}
	b = binary.AppendUvarint(b, uint64(len(db)))
	sum := crc32.Update(crc32.Checksum(b, castagnoli), castagnoli, db)
	if _, err := w.Write(b); err != nil {
		return 0, 0, err
	}
	if _, err := w.Write(db); err != nil {
		return 0, 0, err
	}
	if _, err := w.Write(binary.LittleEndian.AppendUint32(nil, sum)); err != nil {
		return 0, 0, err
	}
	return d.UserCount(), pos.Seq, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errSnapshot = errors.New("dirstore: the saved directory is damaged")

// DecodeSnapshot checks a saved directory's checksum and structure and
// builds the directory it holds. b is not kept.
func DecodeSnapshot(b []byte) (*Snapshot, error) {
	if len(b) < len(snapMagic)+1+4 || string(b[:len(snapMagic)]) != snapMagic {
		return nil, fmt.Errorf("%w: not a saved directory", errSnapshot)
	}
	if b[len(snapMagic)] != snapVersion {
		return nil, fmt.Errorf("%w: version %d", errSnapshot, b[len(snapMagic)])
	}
	body, tail := b[:len(b)-4], b[len(b)-4:]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(tail) {
		return nil, fmt.Errorf("%w: checksum", errSnapshot)
	}
	d := decoder{b: body[len(snapMagic)+1:]}
	snap := &Snapshot{}
	snap.pos.Stream = d.string()
	snap.pos.Created = d.varint()
	snap.pos.Seq = d.uvarint()
	cj := d.string()
	if d.err == nil {
		if err := json.Unmarshal([]byte(cj), &snap.cur); err != nil {
			return nil, fmt.Errorf("%w: current record: %v", errSnapshot, err)
		}
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
	}
	if d.err == nil {
		snap.seen = make(map[string]uint64, n)
		for range n {
			k := d.string()
			snap.seen[k] = d.uvarint()
		}
	}
	db := d.bytes()
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("%w: cut short or overlong", errSnapshot)
	}
	var err error
	if snap.dir, err = directory.DecodeSnapshot(db); err != nil {
		return nil, fmt.Errorf("%w: %v", errSnapshot, err)
	}
	return snap, nil
}

// decoder reads a snapshot's fields; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errSnapshot
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) varint() int64 {
	v, k := binary.Varint(d.b)
	if k <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) bytes() []byte {
	l := d.uvarint()
	if l > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	out := d.b[:l]
	d.b = d.b[l:]
	return out
}

func (d *decoder) string() string { return string(d.bytes()) }

// errStale: the snapshot cannot be brought up to date from the bucket.
var errStale = errors.New("dirstore: the saved directory does not fit the engine")

// loadSnapshot makes a saved directory the directory and applies what the
// bucket holds after its position, as the watch would have; called with st
// held, the watch already started (so that what is written from now on is
// delivered). It returns how many changes it read. On an error nothing of
// the snapshot is kept.
func (s *Store) loadSnapshot(ctx context.Context, snap *Snapshot) (int, error) {
	r, ok := s.kv.(store.Resumable)
	if !ok {
		return 0, ErrNoSnapshot
	}
	ps, err := r.Positions(ctx)
	if err != nil {
		return 0, err
	}
	if len(ps) != 1 {
		return 0, fmt.Errorf("%w: %d partitions", errStale, len(ps))
	}
	now := ps[0]
	switch {
	case now.Stream != snap.pos.Stream || now.Created != snap.pos.Created:
		return 0, fmt.Errorf("%w: saved from stream %s created %d, the engine's is %s created %d", errStale, snap.pos.Stream, snap.pos.Created, now.Stream, now.Created)
	case now.Seq < snap.pos.Seq:
		return 0, fmt.Errorf("%w: saved at sequence %d, the engine is at %d (restored from an older backup?)", errStale, snap.pos.Seq, now.Seq)
	}
	s.dir, s.cur, s.seen, s.applied = snap.dir, snap.cur, snap.seen, snap.pos.Seq
	snap.dir = nil // used once
	n := 0
	err = r.Replay(ctx, "", []store.Position{snap.pos}, []store.Position{now}, func(c store.Change) error {
		n++
		if c.Revision <= s.seen[c.Key] {
			return nil
		}
		if c.Key == currentKey {
			// Another generation (an import) is read whole, as at a start
			// without the file; what follows it is then passed over as
			// seen, or applied again (a page is applied whole).
			if _, err := s.switchGeneration(ctx, c); err != nil {
				return err
			}
		} else {
			s.applyChange(c)
		}
		s.seen[c.Key] = max(s.seen[c.Key], c.Revision)
		s.applied = max(s.applied, c.Revision)
		return nil
	})
	if err != nil {
		s.dir, s.cur, s.seen, s.applied = nil, current{}, nil, 0
		return n, err
	}
	s.applied = max(s.applied, now.Seq)
	return n, nil
}

// Applied is the bucket sequence up to which the directory reflects every
// change: a saved directory at it is current.
func (s *Store) Applied() uint64 { return s.appliedNow() }
