package core

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/presence"
)

// The cache keeps every user's facts in a compact binary form rather than
// as presence.Facts values: with a million users in memory the structs
// (24-byte times, a string header per field, a slice per user) were the
// largest part of the heap (≈ 470 of ≈ 1,070 bytes a user). A read decodes
// the few bytes again, which costs far less than rendering the response.
// The form lives only in memory; the engine keeps JSON.
//
// Layout: version byte; sessions (count, then each: id, availability,
// activity, refreshedAt, expiresAt as an offset from it); seq.at, seq.n;
// lastWrite; then the rarely set parts (preferred, status, events,
// automatic replies) as one length-prefixed JSON document, or 0.

const compactVersion = 1

// values are the availability and activity strings a byte stands for.
var values = []string{
	"", presence.Available, presence.AvailableIdle, presence.Away, presence.BeRightBack, presence.Busy,
	presence.BusyIdle, presence.DoNotDisturb, presence.Offline, presence.PresenceUnknown,
	presence.AvailableInactive, presence.InACall, presence.InAConferenceCall, presence.Inactive,
	presence.InAMeeting, presence.OffWork, presence.OutOfOffice, presence.Presenting,
	presence.UrgentInterruptionsOnly, presence.Focusing,
}

var valueCode = func() map[string]byte {
	m := make(map[string]byte, len(values))
	for i, v := range values {
		m[v] = byte(i)
	}
	return m
}()

// inline marks a value or session id written out in full.
const inline = 0xff

// sessionIDTable numbers session ids so that the many users written by one
// app share one copy of its id. Bounded; ids beyond it are written inline.
type sessionIDTable struct {
	mu  sync.RWMutex
	ids []string
	idx map[string]uint32
}

const maxSessionIDs = 1 << 16

func (t *sessionIDTable) number(id string) (uint32, bool) {
	t.mu.RLock()
	n, ok := t.idx[id]
	t.mu.RUnlock()
	if ok {
		return n, true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if n, ok := t.idx[id]; ok {
		return n, true
	}
	if len(t.ids) >= maxSessionIDs {
		return 0, false
	}
	if t.idx == nil {
		t.idx = make(map[string]uint32)
	}
	n = uint32(len(t.ids))
	t.ids = append(t.ids, id)
	t.idx[id] = n
	return n, true
}

func (t *sessionIDTable) id(n uint64) (string, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if n >= uint64(len(t.ids)) {
		return "", false
	}
	return t.ids[n], true
}

// rare is the part of the facts few users have.
type rare struct {
	Preferred   *presence.Preferred     `json:"p,omitempty"`
	Status      *presence.StatusMessage `json:"s,omitempty"`
	Events      []presence.Event        `json:"e,omitempty"`
	AutoReplies *presence.AutoReplies   `json:"a,omitempty"`
}

// appendFacts appends the compact form of f to b.
func (t *sessionIDTable) appendFacts(b []byte, f presence.Facts) ([]byte, error) {
	b = append(b, compactVersion)
	b = binary.AppendUvarint(b, uint64(len(f.Sessions)))
	for _, s := range f.Sessions {
		if n, ok := t.number(s.ID); ok {
			b = binary.AppendUvarint(b, uint64(n)+1)
		} else {
			b = binary.AppendUvarint(b, 0)
			b = appendString(b, s.ID)
		}
		b = appendValue(b, s.Pair.Availability)
		b = appendValue(b, s.Pair.Activity)
		b = appendTime(b, s.RefreshedAt)
		b = appendTimeAfter(b, s.ExpiresAt, s.RefreshedAt)
	}
	b = binary.AppendVarint(b, f.Seq.At)
	b = binary.AppendUvarint(b, uint64(f.Seq.N))
	b = appendTime(b, f.LastWrite)
	r := rare{Preferred: f.Preferred, Status: f.Status, Events: f.Events, AutoReplies: f.AutoReplies}
	if r.Preferred == nil && r.Status == nil && len(r.Events) == 0 && r.AutoReplies == nil {
		b = binary.AppendUvarint(b, 0)
	} else {
		j, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		b = binary.AppendUvarint(b, uint64(len(j)))
		b = append(b, j...)
	}
	return b, nil
}

var errCompact = errors.New("core: corrupt compact facts")

// decode reads facts in compact form, all of s.
func (t *sessionIDTable) decode(s string) (presence.Facts, error) {
	var f presence.Facts
	r := reader{s: s}
	if r.byte() != compactVersion {
		return f, errCompact
	}
	n := r.uvarint()
	if n > uint64(len(s)) {
		return f, errCompact
	}
	if n > 0 {
		f.Sessions = make([]presence.Session, n)
	}
	for i := range f.Sessions {
		s := &f.Sessions[i]
		if k := r.uvarint(); k > 0 {
			id, ok := t.id(k - 1)
			if !ok {
				return f, errCompact
			}
			s.ID = id
		} else {
			s.ID = r.string()
		}
		s.Pair.Availability = r.value()
		s.Pair.Activity = r.value()
		s.RefreshedAt = r.time()
		s.ExpiresAt = r.timeAfter(s.RefreshedAt)
	}
	f.Seq.At = r.varint()
	f.Seq.N = uint32(r.uvarint())
	f.LastWrite = r.time()
	if m := r.uvarint(); m > 0 {
		j := r.bytes(m)
		var rr rare
		if r.err == nil {
			if err := json.Unmarshal([]byte(j), &rr); err != nil {
				return f, err
			}
		}
		f.Preferred, f.Status, f.Events, f.AutoReplies = rr.Preferred, rr.Status, rr.Events, rr.AutoReplies
	}
	if r.err != nil || len(r.s) != 0 {
		return f, errCompact
	}
	return f, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendValue(b []byte, v string) []byte {
	if c, ok := valueCode[v]; ok {
		return append(b, c)
	}
	return appendString(append(b, inline), v)
}

// appendTime writes 0 for the zero time, else 1 and the unix nanoseconds.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(append(b, 1), t.UnixNano())
}

// appendTimeAfter writes t as an offset from base (a session's expiry
// from its refresh: a few bytes instead of nine).
func appendTimeAfter(b []byte, t, base time.Time) []byte {
	if t.IsZero() || base.IsZero() {
		return appendTime(b, t)
	}
	return binary.AppendVarint(append(b, 2), t.UnixNano()-base.UnixNano())
}

// reader reads the compact form from a string (the cached entry itself,
// without copying it).
type reader struct {
	s   string
	err error
}

func (r *reader) fail() { r.err, r.s = errCompact, "" }

func (r *reader) byte() byte {
	if len(r.s) == 0 {
		r.fail()
		return 0
	}
	c := r.s[0]
	r.s = r.s[1:]
	return c
}

// uvarint reads what binary.AppendUvarint wrote (and rejects what
// binary.Uvarint rejects: more than 10 bytes, or overflow).
func (r *reader) uvarint() uint64 {
	var v uint64
	for i := 0; i < len(r.s) && i < binary.MaxVarintLen64; i++ {
		c := r.s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break // overflow
			}
			r.s = r.s[i+1:]
			return v | uint64(c)<<(7*i)
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	r.fail()
	return 0
}

// varint reads what binary.AppendVarint wrote.
func (r *reader) varint() int64 {
	ux := r.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (r *reader) bytes(n uint64) string {
	if n > uint64(len(r.s)) {
		r.fail()
		return ""
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v
}

// string copies: a session id must not keep the whole entry alive.
func (r *reader) string() string { return strings.Clone(r.bytes(r.uvarint())) }

func (r *reader) value() string {
	c := r.byte()
	if c == inline {
		return r.string()
	}
	if int(c) >= len(values) {
		r.fail()
		return ""
	}
	return values[c]
}

func (r *reader) time() time.Time { return r.timeAfter(time.Time{}) }

func (r *reader) timeAfter(base time.Time) time.Time {
	switch r.byte() {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, r.varint()).UTC()
	case 2:
		if !base.IsZero() {
			return time.Unix(0, base.UnixNano()+r.varint()).UTC()
		}
	}
	r.fail()
	return time.Time{}
}
