package core

import (
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/presenced/presenced/presence"
)

// Reading the compact form that compact.go writes: decode checks every
// length and tag against what is left, so that a damaged record fails
// with errCompact instead of reading past its end.

// workLocation reads the work location part.
func (r *reader) workLocation() *presence.WorkLocations {
	w := &presence.WorkLocations{}
	layers := r.byte()
	if layers == 0 || layers&^7 != 0 {
		r.fail() // written only when there is some
	}
	signal := func() *presence.LocationSignal {
		s := &presence.LocationSignal{Type: r.value(), PlaceID: r.string()}
		s.SetAt = r.time(time.Time{})
		s.Until = r.time(s.SetAt)
		return s
	}
	if layers&1 != 0 {
		w.Manual = signal()
	}
	if layers&2 != 0 {
		w.Automatic = signal()
	}
	if layers&4 != 0 {
		n := r.count()
		if n == 0 {
			r.fail()
		}
		w.Scheduled = make([]presence.ScheduledLocation, n)
		for i := range w.Scheduled {
			s := &w.Scheduled[i]
			s.Start = r.time(time.Time{})
			s.End = r.time(s.Start)
			s.Type = r.value()
			s.PlaceID = r.string()
		}
	}
	return w
}

var errCompact = errors.New("core: corrupt compact facts")

// decode reads facts in c's form, all of s. It reads any offsets written,
// and session ids written out or numbered in c.ids (none if nil).
func (c codec) decode(s string) (presence.Facts, error) { return c.decodeInto(s, nil) }

// decodeInto is decode with the sessions in buf when it has room (reads of
// many users reuse one buffer instead of allocating per user).
func (c codec) decodeInto(s string, buf []presence.Session) (presence.Facts, error) {
	var f presence.Facts
	r := reader{s: s}
	if r.byte() != factsVersion {
		return f, errCompact
	}
	if n := r.count(); n > 0 {
		if uint64(cap(buf)) >= n {
			f.Sessions = buf[:n]
		} else {
			f.Sessions = make([]presence.Session, n)
		}
	}
	prev := ""
	for i := range f.Sessions {
		s := &f.Sessions[i]
		if k := r.uvarint(); k == 0 {
			s.ID = r.string()
		} else if c.shared {
			if p := k - 1; p >= minSharedPrefix && p <= uint64(len(prev)) {
				s.ID = prev[:p] + r.bytes(r.uvarint()) // one allocation, as r.string
			} else {
				r.fail()
			}
		} else if id, ok := c.id(k - 1); ok {
			s.ID = id
		} else {
			r.fail()
		}
		prev = s.ID
		s.Pair.Availability = r.value()
		s.Pair.Activity = r.value()
		s.RefreshedAt = r.time(time.Time{})
		s.ExpiresAt = r.time(s.RefreshedAt)
	}
	f.Seq.At = r.varint()
	if n := r.uvarint(); n <= 1<<32-1 {
		f.Seq.N = uint32(n)
	} else {
		r.fail()
	}
	f.LastWrite = r.time(time.Time{})

	parts := r.byte()
	if parts&^knownParts != 0 {
		r.fail()
	}
	if parts&hasPreferred != 0 {
		p := &presence.Preferred{}
		p.Pair.Availability = r.value()
		p.Pair.Activity = r.value()
		p.SetAt = r.time(time.Time{})
		p.ExpiresAt = r.time(p.SetAt)
		f.Preferred = p
	}
	if parts&hasStatus != 0 {
		m := &presence.StatusMessage{}
		m.Content = r.string()
		m.ContentType = r.value()
		switch r.byte() {
		case 0:
		case 1:
			m.Expiry = &presence.DateTimeTimeZone{DateTime: r.string(), TimeZone: r.string()}
		default:
			r.fail()
		}
		m.PublishedAt = r.time(time.Time{})
		m.ExpiresAt = r.time(m.PublishedAt)
		f.Status = m
	}
	if parts&hasEvents != 0 {
		n := r.count()
		if n == 0 {
			r.fail() // written only when there are some
		}
		f.Events = make([]presence.Event, n)
		for i := range f.Events {
			e := &f.Events[i]
			e.Start = r.time(time.Time{})
			e.End = r.time(e.Start)
			e.ShowAs = r.value()
			flags := r.byte()
			e.IsMeeting, e.IsAllDay = flags&1 != 0, flags&2 != 0
			if flags&^3 != 0 {
				r.fail()
			}
		}
	}
	if parts&hasAutoReplies != 0 {
		a := &presence.AutoReplies{}
		a.Status = r.value()
		a.InternalReplyMessage = r.string()
		a.ScheduledStart = r.time(time.Time{})
		a.ScheduledEnd = r.time(a.ScheduledStart)
		f.AutoReplies = a
	}
	if parts&hasWindow != 0 {
		f.CalendarUntil = r.time(time.Time{})
		f.CalendarRev = r.uvarint()
	}
	if parts&hasWorkLocation != 0 {
		f.Location = r.workLocation()
	}
	if r.err != nil || len(r.s) != 0 {
		return presence.Facts{}, errCompact
	}
	return f, nil
}

func (c codec) id(n uint64) (string, bool) {
	if c.ids == nil {
		return "", false
	}
	return c.ids.id(n)
}

// inZone is the instant t with UTC offset off as time.Time's JSON reads it
// back: offset 0 is UTC (JSON writes "Z"); another offset is time.Local if
// Local has that offset at t, else an unnamed fixed zone. (JSON writes
// offsets in whole minutes; an offset with seconds, which only historic
// local mean times have, reads back here with its instant unchanged.)
func inZone(t time.Time, off int) time.Time {
	if off == 0 {
		return t.UTC()
	}
	if l := t.In(time.Local); offset(l) == off {
		return l
	}
	return t.In(time.FixedZone("", off))
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

// count reads the length of a list: each element takes a byte at least,
// so a count beyond what is left is corrupt (and is not allocated).
func (r *reader) count() uint64 {
	n := r.uvarint()
	if n > uint64(len(r.s)) {
		r.fail()
		return 0
	}
	return n
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

// time reads a time written after base (zero: none).
func (r *reader) time(base time.Time) time.Time {
	tag := r.byte()
	if tag == 0 {
		return time.Time{}
	}
	var off int64
	switch {
	case tag&^(timeKind|timeHasOffset) != 0, tag&timeKind == 0:
		r.fail()
		return time.Time{}
	case tag&timeHasOffset != 0:
		// At most a day either way would do for any real zone; the bound
		// only keeps the int conversion exact on 32-bit machines.
		if off = r.varint(); off < -1<<31 || off >= 1<<31 {
			r.fail()
		}
	case tag&timeKind == timeAfter && base.Location() != time.UTC:
		// (A base in UTC, as every time the cache's form reads back, has
		// no offset: Zone's lookup was ~0.03 µs of a four-session user's
		// decoding.)
		off = int64(offset(base))
	}
	var t time.Time
	switch tag & timeKind {
	case timeNanos:
		t = time.Unix(0, r.varint())
	case timeAfter:
		if base.IsZero() {
			r.fail()
		}
		t = base.Add(time.Duration(r.varint()))
	case timeSeconds:
		sec := r.varint()
		ns := r.uvarint()
		if ns >= 1e9 {
			r.fail()
		}
		t = time.Unix(sec, int64(ns))
	}
	if r.err != nil {
		return time.Time{}
	}
	return inZone(t, int(off))
}
