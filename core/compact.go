package core

import (
	"encoding/binary"
	"maps"
	"sync"
	"sync/atomic"
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
// its number in the process's sessionIDTable, or, in the engine only, k-1
// the length of the prefix it shares with the previous session's id (at
// least minSharedPrefix) and the rest of it written out: one app's
// sessions share its client id, ~37 of their ~40 bytes. The engine's form
// stays self-contained; records with one session, or with no shared
// prefix, are written as before (a server older than shared prefixes
// refuses only records that use them). A time is a tag byte: 0 the zero time; else kind = tag&3
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
//
// A write numbers each of its sessions (the cache's entry) and a read of
// the cache names each (decoding): under the read-write lock each was two
// atomic adds on the one cache line every core shares, ~0.1 µs of a
// four-session write in core's benchmark alone (docs/performance.md,
// branch coresess). Both now read a published view first, without a
// lock: the ids so far and a frozen copy of the index, replaced whole
// under mu. The index is copied on each new id while there are few (an
// app's handful: all found without the lock at once), and beyond
// maxFrozenEachID each time the ids have doubled since the last copy, so
// that copying stays linear in the ids numbered; an id not yet in the
// frozen copy is found under the lock, as before.
type sessionIDTable struct {
	mu  sync.RWMutex
	ids []string
	idx map[string]uint32
	// pub is the lock-free view (nil: nothing numbered yet); written
	// under mu.
	pub atomic.Pointer[idView]
}

// idView is a sessionIDTable's ids and a frozen index of a prefix of them;
// neither is written after it is published.
type idView struct {
	ids []string
	idx map[string]uint32
}

const maxSessionIDs = 1 << 16

// maxFrozenEachID is how many ids the frozen index is copied at each new
// id up to; beyond, when the ids have doubled.
const maxFrozenEachID = 1 << 10

func (t *sessionIDTable) number(id string) (uint32, bool) {
	if v := t.pub.Load(); v != nil {
		if n, ok := v.idx[id]; ok {
			return n, true
		}
	}
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
	t.publishLocked()
	return n, true
}

// publishLocked publishes the ids (and, if it is time, a new frozen
// index), under mu.
func (t *sessionIDTable) publishLocked() {
	v := &idView{ids: t.ids[:len(t.ids):len(t.ids)]} // only ever appended to
	old := t.pub.Load()
	if old == nil || len(t.ids) <= maxFrozenEachID || len(t.ids) >= 2*len(old.idx) {
		v.idx = maps.Clone(t.idx)
	} else {
		v.idx = old.idx
	}
	t.pub.Store(v)
}

func (t *sessionIDTable) id(n uint64) (string, bool) {
	if v := t.pub.Load(); v != nil && n < uint64(len(v.ids)) {
		return v.ids[n], true
	}
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
	ids    *sessionIDTable // nil: no session id numbered
	zones  bool            // keep each time's UTC offset
	shared bool            // a session id may share its previous one's prefix
	lay    *layout         // if not nil, appendFacts notes its layout there
}

// layout is where appendFacts put the parts of a record that are the same
// bytes in the engine's form and the cache's: all but the session ids,
// unless a time was written the long way (perhaps with a UTC offset,
// which only the engine's form keeps). A write encodes its facts twice,
// the engine's value and the cache's entry; with the layout the entry is
// the value's bytes around the sessions' numbered ids
// (sessionIDTable.appendEntryFrom), ~0.2 µs less of a four-session
// write (docs/performance.md, branch coresess). Offsets are in the bytes
// appendFacts returned.
type layout struct {
	head int      // the version and the sessions' count end here
	sess [][2]int // each session's bytes after its id
	tail int      // what follows the sessions starts here
	slow bool     // a time written the long way
}

// reset readies l for another appendFacts, keeping its room.
func (l *layout) reset() { *l = layout{sess: l.sess[:0]} }

// stored is the engine's form (stored.go).
var stored = codec{zones: true, shared: true}

// minSharedPrefix is the shortest prefix a session id shares with the
// previous one (engine form): below it, the id is written out in full.
const minSharedPrefix = 8

// cache is the cache's form, numbering session ids in t.
func (t *sessionIDTable) cache() codec { return codec{ids: t} }

// appendFacts appends the facts f in c's form to b.
func (c codec) appendFacts(b []byte, f presence.Facts) []byte {
	b = append(b, factsVersion)
	b = binary.AppendUvarint(b, uint64(len(f.Sessions)))
	if c.lay != nil {
		c.lay.head = len(b)
	}
	prev := ""
	for _, s := range f.Sessions {
		if n, ok := c.number(s.ID); ok {
			b = binary.AppendUvarint(b, uint64(n)+1)
		} else if p := c.sharedPrefix(prev, s.ID); p > 0 {
			b = appendString(binary.AppendUvarint(b, uint64(p)+1), s.ID[p:])
		} else {
			b = appendString(append(b, 0), s.ID)
		}
		prev = s.ID
		start := len(b)
		b = appendValue(b, s.Pair.Availability)
		b = appendValue(b, s.Pair.Activity)
		b = c.appendTime(b, s.RefreshedAt, time.Time{})
		b = c.appendTime(b, s.ExpiresAt, s.RefreshedAt)
		if c.lay != nil {
			c.lay.sess = append(c.lay.sess, [2]int{start, len(b)})
		}
	}
	if c.lay != nil {
		c.lay.tail = len(b)
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

func (c codec) number(id string) (uint32, bool) {
	if c.ids == nil {
		return 0, false
	}
	return c.ids.number(id)
}

// sharedPrefix is the length of the prefix id shares with prev, if c
// writes shared prefixes and it is at least minSharedPrefix; else 0.
func (c codec) sharedPrefix(prev, id string) int {
	if !c.shared {
		return 0
	}
	n := min(len(prev), len(id))
	p := 0
	for p < n && prev[p] == id[p] {
		p++
	}
	if p < minSharedPrefix {
		return 0
	}
	return p
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendValue(b []byte, v string) []byte {
	if c, ok := codeOf(v); ok {
		return append(b, c)
	}
	return appendString(append(b, inline), v)
}

// codeOf is v's index in values, if it is one, found without hashing v: a write to a user of four
// sessions looks up ten values, twice (the engine's value and the cache's
// entry), and the map's hash and probe were ~0.15 µs of core's ~3 µs
// (docs/performance.md, branch coresess; it was a map). The compiler
// turns the switch into a search by length, then by value. TestCodeOf
// checks it against values, index by index.
func codeOf(v string) (byte, bool) {
	switch v {
	case "":
		return 0, true
	case presence.Available:
		return 1, true
	case presence.AvailableIdle:
		return 2, true
	case presence.Away:
		return 3, true
	case presence.BeRightBack:
		return 4, true
	case presence.Busy:
		return 5, true
	case presence.BusyIdle:
		return 6, true
	case presence.DoNotDisturb:
		return 7, true
	case presence.Offline:
		return 8, true
	case presence.PresenceUnknown:
		return 9, true
	case presence.AvailableInactive:
		return 10, true
	case presence.InACall:
		return 11, true
	case presence.InAConferenceCall:
		return 12, true
	case presence.Inactive:
		return 13, true
	case presence.InAMeeting:
		return 14, true
	case presence.OffWork:
		return 15, true
	case presence.OutOfOffice:
		return 16, true
	case presence.Presenting:
		return 17, true
	case presence.UrgentInterruptionsOnly:
		return 18, true
	case presence.Focusing:
		return 19, true
	case "text":
		return 20, true
	case presence.ShowAsFree:
		return 21, true
	case presence.ShowAsTentative:
		return 22, true
	case presence.ShowAsBusy:
		return 23, true
	case presence.ShowAsOOF:
		return 24, true
	case presence.ShowAsWorkingElsewhere:
		return 25, true
	case presence.ShowAsUnknown:
		return 26, true
	case presence.RepliesDisabled:
		return 27, true
	case presence.RepliesAlwaysEnabled:
		return 28, true
	case presence.RepliesScheduled:
		return 29, true
	}
	return 0, false
}

// appendTime appends t, written after the time base (zero: none). A time
// right after another (an expiry after its refresh) costs a few bytes
// instead of nine.
func (c codec) appendTime(b []byte, t, base time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	// Most times (a session's refresh and expiry, in UTC, this century):
	// exact nanoseconds with no offset, their difference exact too. The
	// same bytes as the general case, without its checks for saturation
	// and range: a write to a user of four sessions encodes 18 times, and
	// core's share of it fell by ~0.25 µs of 4.1 (docs/performance.md,
	// branch toolshape).
	if ns, ok := nearNanos(t); ok && (!c.zones || offset(t) == 0) {
		if base.IsZero() {
			return binary.AppendVarint(append(b, timeNanos), ns)
		}
		if bns, ok := nearNanos(base); ok && (!c.zones || offset(base) == 0) {
			return binary.AppendVarint(append(b, timeAfter), ns-bns)
		}
	}
	if c.lay != nil {
		c.lay.slow = true
	}
	return c.appendAnyTime(b, t, base)
}

// appendAnyTime is appendTime for any non-zero t (TestAppendTimeNear
// compares the two).
func (c codec) appendAnyTime(b []byte, t, base time.Time) []byte {
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

// nearNanos is t's UnixNano (wall clock) if t is within 1900–2100: there
// it is exact, and so is the difference of two such times (under 2^63 ns,
// ~292 years), where Sub would saturate only beyond.
func nearNanos(t time.Time) (int64, bool) {
	const from, to = -2208988800, 4102444800 // 1900-01-01, 2100-01-01 UTC
	if s := t.Unix(); s < from || s >= to {
		return 0, false
	}
	return t.UnixNano(), true
}

// offset is t's offset from UTC in seconds.
func offset(t time.Time) int {
	_, off := t.Zone()
	return off
}
