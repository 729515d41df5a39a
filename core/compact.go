package core

import (
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/presence"
)

// The cache and the engine both keep each user's facts in one compact
// binary layout rather than as presence.Facts values or JSON. In memory,
// with a million users, the structs (24-byte times, a string header per
// field, a slice per user) were the largest part of the heap (≈ 470 of
// ≈ 1,070 bytes a user); a read decodes the few bytes again, which costs
// far less than rendering the response. In the engine, JSON cost ~10 µs a
// user to decode on a cold read and ~3 % of a write's CPU to encode.
//
// Layout, version 1. Integers are varints as encoding/binary writes them
// (uvarint unless said); a string is its length and its bytes; a value is
// one byte, its index in values, or 0xff and the string.
//
//	version        1 (never '{': the engine's older values are JSON objects)
//	sessions       count, then each: id, availability (value), activity
//	               (value), refreshedAt (time), expiresAt (time after
//	               refreshedAt)
//	seq            at (varint), n
//	lastWrite      time
//	parts          one byte: bit 0 preferred, 1 status, 2 events,
//	               3 autoReplies, 4 window; then each part present, in that order:
//	  preferred    availability, activity (values), setAt, expiresAt after setAt
//	  status       content, contentType (value), expiry (0, or 1 then
//	               dateTime and timeZone), publishedAt, expiresAt after
//	               publishedAt
//	  events       count, then each: start, end after start, showAs
//	               (value), flags (bit 0 isMeeting, 1 isAllDay)
//	  autoReplies  status (value), internalReplyMessage, scheduledStart,
//	               scheduledEnd after scheduledStart
//	  window       calendarUntil (time), calendarRev (uvarint): added with
//	               the calendar; a server older than it refuses such records
//	  workLocation (parts bit 7) one byte: bit 0 manual, 1 automatic, 2
//	               scheduled; then manual and automatic each: type (value),
//	               placeId, setAt, until after setAt; scheduled: count, then
//	               each: start, end after start, type (value), placeId
//
// A session id is k: 0 and the id written out, or, in the cache only, k-1
// its number in the process's sessionIDTable (the engine's form is
// self-contained). A time is a tag byte: 0 the zero time; else kind = tag&3
// and, if tag&4, the UTC offset in seconds follows (varint); then kind 1:
// unix nanoseconds (varint); 2: nanoseconds after the time it is written
// after (varint); 3: unix seconds (varint) and nanoseconds (uvarint), for
// instants outside UnixNano's years 1678–2262. Without an offset, kinds 1
// and 3 are UTC and kind 2 has the offset of the time it follows. The cache
// writes no offsets (its times read back in UTC); the engine's form keeps
// them and reads them back as time.Time's JSON does (inZone).
const factsVersion = 1

// values are the strings a value byte stands for. Frozen: the engine keeps
// these indexes. Never reorder, remove or add to it within a version; a
// string not in it is written out in full.
var values = []string{
	"", presence.Available, presence.AvailableIdle, presence.Away, presence.BeRightBack, presence.Busy,
	presence.BusyIdle, presence.DoNotDisturb, presence.Offline, presence.PresenceUnknown,
	presence.AvailableInactive, presence.InACall, presence.InAConferenceCall, presence.Inactive,
	presence.InAMeeting, presence.OffWork, presence.OutOfOffice, presence.Presenting,
	presence.UrgentInterruptionsOnly, presence.Focusing,
	// 20: status message content type, event showAs, automatic replies
	"text",
	presence.ShowAsFree, presence.ShowAsTentative, presence.ShowAsBusy, presence.ShowAsOOF,
	presence.ShowAsWorkingElsewhere, presence.ShowAsUnknown,
	presence.RepliesDisabled, presence.RepliesAlwaysEnabled, presence.RepliesScheduled,
}

var valueCode = func() map[string]byte {
	m := make(map[string]byte, len(values))
	for i, v := range values {
		m[v] = byte(i)
	}
	return m
}()

// inline marks a value written out in full.
const inline = 0xff

// Parts of the facts few users have (the parts byte).
const (
	hasPreferred = 1 << iota
	hasStatus
	hasEvents
	hasAutoReplies
	hasWindow
)

// hasWorkLocation is the work location's bit: the highest, so that the
// parts added after it (calendar, mailbox) take the next free low bits.
// Records without it read as they always did.
const hasWorkLocation = 1 << 7

// knownParts are the parts bits a record may carry.
const knownParts = hasPreferred | hasStatus | hasEvents | hasAutoReplies | hasWindow | hasWorkLocation

// Time tags.
const (
	timeNanos     = 1 // unix nanoseconds
	timeAfter     = 2 // nanoseconds after another time
	timeSeconds   = 3 // unix seconds and nanoseconds
	timeKind      = 3
	timeHasOffset = 4
)

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

// codec is one use of the layout: the cache's (session ids numbered in
// ids, times in UTC) or the engine's (stored: ids written out, UTC offsets
// kept).
type codec struct {
	ids   *sessionIDTable // nil: every session id written out
	zones bool            // keep each time's UTC offset
}

// stored is the engine's form (stored.go).
var stored = codec{zones: true}

// cache is the cache's form, numbering session ids in t.
func (t *sessionIDTable) cache() codec { return codec{ids: t} }

// appendFacts appends the facts f in c's form to b.
func (c codec) appendFacts(b []byte, f presence.Facts) []byte {
	b = append(b, factsVersion)
	b = binary.AppendUvarint(b, uint64(len(f.Sessions)))
	for _, s := range f.Sessions {
		if n, ok := c.number(s.ID); ok {
			b = binary.AppendUvarint(b, uint64(n)+1)
		} else {
			b = appendString(append(b, 0), s.ID)
		}
		b = appendValue(b, s.Pair.Availability)
		b = appendValue(b, s.Pair.Activity)
		b = c.appendTime(b, s.RefreshedAt, time.Time{})
		b = c.appendTime(b, s.ExpiresAt, s.RefreshedAt)
	}
	b = binary.AppendVarint(b, f.Seq.At)
	b = binary.AppendUvarint(b, uint64(f.Seq.N))
	b = c.appendTime(b, f.LastWrite, time.Time{})

	var parts byte
	if f.Preferred != nil {
		parts |= hasPreferred
	}
	if f.Status != nil {
		parts |= hasStatus
	}
	if len(f.Events) > 0 {
		parts |= hasEvents
	}
	if f.AutoReplies != nil {
		parts |= hasAutoReplies
	}
	if !f.CalendarUntil.IsZero() || f.CalendarRev != 0 {
		parts |= hasWindow
	}
	if f.Location != nil {
		parts |= hasWorkLocation
	}
	b = append(b, parts)
	if p := f.Preferred; p != nil {
		b = appendValue(b, p.Pair.Availability)
		b = appendValue(b, p.Pair.Activity)
		b = c.appendTime(b, p.SetAt, time.Time{})
		b = c.appendTime(b, p.ExpiresAt, p.SetAt)
	}
	if s := f.Status; s != nil {
		b = appendString(b, s.Content)
		b = appendValue(b, s.ContentType)
		if s.Expiry == nil {
			b = append(b, 0)
		} else {
			b = appendString(append(b, 1), s.Expiry.DateTime)
			b = appendString(b, s.Expiry.TimeZone)
		}
		b = c.appendTime(b, s.PublishedAt, time.Time{})
		b = c.appendTime(b, s.ExpiresAt, s.PublishedAt)
	}
	if len(f.Events) > 0 {
		b = binary.AppendUvarint(b, uint64(len(f.Events)))
		for _, e := range f.Events {
			b = c.appendTime(b, e.Start, time.Time{})
			b = c.appendTime(b, e.End, e.Start)
			b = appendValue(b, e.ShowAs)
			var flags byte
			if e.IsMeeting {
				flags |= 1
			}
			if e.IsAllDay {
				flags |= 2
			}
			b = append(b, flags)
		}
	}
	if a := f.AutoReplies; a != nil {
		b = appendValue(b, a.Status)
		b = appendString(b, a.InternalReplyMessage)
		b = c.appendTime(b, a.ScheduledStart, time.Time{})
		b = c.appendTime(b, a.ScheduledEnd, a.ScheduledStart)
	}
	if parts&hasWindow != 0 {
		b = c.appendTime(b, f.CalendarUntil, time.Time{})
		b = binary.AppendUvarint(b, f.CalendarRev)
	}
	if w := f.Location; w != nil {
		b = c.appendWorkLocation(b, w)
	}
	return b
}

// appendWorkLocation appends the work location part.
func (c codec) appendWorkLocation(b []byte, w *presence.WorkLocations) []byte {
	var layers byte
	if w.Manual != nil {
		layers |= 1
	}
	if w.Automatic != nil {
		layers |= 2
	}
	if len(w.Scheduled) > 0 {
		layers |= 4
	}
	b = append(b, layers)
	for _, s := range []*presence.LocationSignal{w.Manual, w.Automatic} {
		if s != nil {
			b = appendValue(b, s.Type)
			b = appendString(b, s.PlaceID)
			b = c.appendTime(b, s.SetAt, time.Time{})
			b = c.appendTime(b, s.Until, s.SetAt)
		}
	}
	if len(w.Scheduled) > 0 {
		b = binary.AppendUvarint(b, uint64(len(w.Scheduled)))
		for _, s := range w.Scheduled {
			b = c.appendTime(b, s.Start, time.Time{})
			b = c.appendTime(b, s.End, s.Start)
			b = appendValue(b, s.Type)
			b = appendString(b, s.PlaceID)
		}
	}
	return b
}

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

func (c codec) number(id string) (uint32, bool) {
	if c.ids == nil {
		return 0, false
	}
	return c.ids.number(id)
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
	for i := range f.Sessions {
		s := &f.Sessions[i]
		if k := r.uvarint(); k == 0 {
			s.ID = r.string()
		} else if id, ok := c.id(k - 1); ok {
			s.ID = id
		} else {
			r.fail()
		}
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

// appendTime appends t, written after the time base (zero: none). A time
// right after another (an expiry after its refresh) costs a few bytes
// instead of nine.
func (c codec) appendTime(b []byte, t, base time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	// Wall clock only: Sub and Equal would use the monotonic readings.
	t, base = t.Round(0), base.Round(0)
	off := 0
	if c.zones {
		off = offset(t)
	}
	if !base.IsZero() {
		if d := t.Sub(base); base.Add(d).Equal(t) { // not saturated
			if !c.zones || off == offset(base) {
				return binary.AppendVarint(append(b, timeAfter), int64(d))
			}
			b = binary.AppendVarint(append(b, timeAfter|timeHasOffset), int64(off))
			return binary.AppendVarint(b, int64(d))
		}
	}
	tag := byte(timeNanos)
	ns := t.UnixNano()
	if !time.Unix(0, ns).Equal(t) { // beyond UnixNano's range
		tag = timeSeconds
	}
	if off != 0 {
		b = binary.AppendVarint(append(b, tag|timeHasOffset), int64(off))
	} else {
		b = append(b, tag)
	}
	if tag == timeSeconds {
		return binary.AppendUvarint(binary.AppendVarint(b, t.Unix()), uint64(t.Nanosecond()))
	}
	return binary.AppendVarint(b, ns)
}

// offset is t's offset from UTC in seconds.
func offset(t time.Time) int {
	_, off := t.Zone()
	return off
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
	case tag&timeKind == timeAfter:
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
