package graphapi

import (
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
)

// Presence bodies are written by hand rather than through encoding/json.
// Why: for getPresencesByUserId with 650 ids, reflection over one struct
// per presence (plus fmt for each sequenceNumber) was 35 % of the handler's
// CPU after the request decoding was fixed — more than everything else in
// this package — and the shape is fixed. The output is byte for byte what
// encoding/json writes for the reference model in encode_test.go (field
// order, null statusMessage and placeId, HTML-safe escaping), which
// TestAppendPresence and FuzzAppendPresence check; anything that is not a
// presence still goes through encoding/json (writeJSON).
//
// The shape, Graph's presence entity:
//
//	{"@odata.context":…,            (single presence only)
//	 "id":…, "availability":…, "activity":…,
//	 "statusMessage": null | {"message":{"content":…,"contentType":…},
//	                          "expiryDateTime":{"dateTime":…,"timeZone":…},  (owner, if set)
//	                          "publishedDateTime":…},                       (owner)
//	 "outOfOfficeSettings":{"isOutOfOffice":…,"message":null|…},
//	 "sequenceNumber":…,
//	 "workLocation":{"workLocationType":…,"source":…,"placeId":null|…}}

// appendPresence appends the presence of s as its reader sees it: only the
// owner (the user themself) sees when their status message expires and
// when it was published (semantics §3.6). A non-empty context is written
// first as @odata.context.
func appendPresence(b []byte, context string, s core.Snapshot, owner bool) []byte {
	return appendPresenceFields(b, context, &s, owner, allFields)
}

// appendPresenceFields is appendPresence of the properties in fields only
// ($select), in the resource's order. s is read, never kept nor changed: by
// pointer, so that a GET's stack does not hold a copy (see writePresence).
func appendPresenceFields(b []byte, context string, s *core.Snapshot, owner bool, fields field) []byte {
	v := &s.View
	b = append(b, '{')
	sep := false
	next := func(b []byte, key string) []byte {
		if sep {
			b = append(b, ',')
		}
		sep = true
		return append(b, key...)
	}
	if context != "" {
		b = next(b, `"@odata.context":`)
		b = appendString(b, context)
	}
	if fields&fieldID != 0 {
		b = next(b, `"id":`)
		b = appendString(b, s.User.UserID)
	}
	if fields&fieldAvailability != 0 {
		b = next(b, `"availability":`)
		b = appendString(b, v.Pair.Availability)
	}
	if fields&fieldActivity != 0 {
		b = next(b, `"activity":`)
		b = appendString(b, v.Pair.Activity)
	}
	if fields&fieldStatusMessage != 0 {
		b = next(b, `"statusMessage":`)
		b = appendStatus(b, v.Status, owner)
	}
	if fields&fieldOutOfOffice != 0 {
		b = next(b, `"outOfOfficeSettings":{"isOutOfOffice":`)
		b = strconv.AppendBool(b, v.OutOfOffice.IsOutOfOffice)
		b = append(b, `,"message":`...)
		b = appendStringPtr(b, v.OutOfOffice.Message)
		b = append(b, '}')
	}
	if fields&fieldSequenceNumber != 0 {
		b = next(b, `"sequenceNumber":"`)
		b = s.Seq.Append(b)
		b = append(b, '"')
	}
	if fields&fieldWorkLocation != 0 {
		b = next(b, `"workLocation":{"workLocationType":`)
		b = appendString(b, v.WorkLocation.WorkLocationType)
		b = append(b, `,"source":`...)
		b = appendString(b, v.WorkLocation.Source)
		b = append(b, `,"placeId":`...)
		b = appendStringPtr(b, v.WorkLocation.PlaceID)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendStatus appends a status message (null when none) as its reader
// sees it.
func appendStatus(b []byte, m *presence.StatusMessage, owner bool) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"message":{"content":`...)
	b = appendString(b, m.Content)
	b = append(b, `,"contentType":`...)
	b = appendString(b, m.ContentType)
	b = append(b, '}')
	if owner {
		if e := m.Expiry; e != nil {
			b = append(b, `,"expiryDateTime":{"dateTime":`...)
			b = appendString(b, e.DateTime)
			b = append(b, `,"timeZone":`...)
			b = appendString(b, e.TimeZone)
			b = append(b, '}')
		}
		b = append(b, `,"publishedDateTime":`...)
		b = appendString(b, presence.FormatDateTime(m.PublishedAt))
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// safeASCII says which ASCII bytes appendString writes as they are.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

func appendStringPtr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

// appendString appends s as a JSON string exactly as encoding/json writes
// it by default (HTML-safe): '"', '\\' and control characters escaped (\b,
// \f, \n, \r, \t by name, others as \u00XX), '<', '>' and '&' as \u003c,
// \u003e and \u0026, invalid UTF-8 as \ufffd byte by byte, and U+2028 and
// U+2029 as \u2028 and \u2029.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// bufPool recycles response buffers: a body of 650 presences is ~200 KB,
// which would otherwise be allocated (and grown) per request.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooled is the largest buffer kept for reuse.
const maxPooled = 1 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(p *[]byte) {
	if cap(*p) <= maxPooled {
		*p = (*p)[:0]
		bufPool.Put(p)
	}
}

// writePresence answers with one presence (GET …/presence), of the
// properties in fields. The snapshot is passed by pointer: by value each
// frame on the way held a copy of its 528 bytes, and a GET's stack grew
// past its first 8 KiB (graphapi's principal says what that cost).
func writePresence(w http.ResponseWriter, context string, s *core.Snapshot, owner bool, fields field) {
	p := getBuf()
	*p = appendPresenceFields((*p)[:0], context, s, owner, fields)
	writeBody(w, http.StatusOK, *p)
	putBuf(p)
}

// writePresences answers with a collection of presences
// (getPresencesByUserId); owner reports whether the reader owns a presence.
// The n snapshots are those read hands to each in turn (core.ReadEach),
// so that no slice of them is built. If read fails, nothing is written and
// its error is returned.
func writePresences(w http.ResponseWriter, context string, n int, read func(each func(*core.Snapshot) error) error, owner func(*core.Snapshot) bool) error {
	p := getBuf()
	defer putBuf(p)
	b := (*p)[:0]
	if need := 64 + len(context) + 320*n; cap(b) < need {
		b = make([]byte, 0, need)
	}
	b = append(b, `{"@odata.context":`...)
	b = appendString(b, context)
	b = append(b, `,"value":[`...)
	first := true
	err := read(func(s *core.Snapshot) error {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendPresence(b, "", *s, owner(s))
		return nil
	})
	*p = b
	if err != nil {
		return err
	}
	b = append(b, "]}"...)
	*p = b
	writeBody(w, http.StatusOK, b)
	return nil
}
