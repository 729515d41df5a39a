// Package guid makes random (version 4) GUIDs, the identifier format of
// Graph and Entra (request ids, token ids, subscription ids), and converts
// GUIDs in lowercase canonical form to and from their 16 bytes.
package guid

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	mrand "math/rand/v2"
)

// New returns a random version 4 GUID in lowercase canonical form.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return Format(b)
}

// Unique returns a version 4 GUID for what needs to be unique but not
// secret: a request-id, which Graph's callers quote to support and match
// against logs, and which authorises nothing. Its 122 random bits come from
// math/rand/v2's default source, the runtime's per-thread ChaCha8 generator
// seeded from the operating system's random source at start: no system
// call and no shared lock per id (crypto/rand took ~0.5 µs of every
// request's CPU), and a collision as unlikely as with New. Anything a
// caller could use, or guess to act as someone else (token ids, secrets,
// subscription ids, client ids), keeps New.
func Unique() string {
	var out [36]byte
	UniqueInto(&out)
	return string(out[:])
}

// UniqueInto writes a Unique GUID into out, without allocating: the
// request's logging keeps the request-id's characters in the recorder it
// allocates anyway.
func UniqueInto(out *[36]byte) {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:8], mrand.Uint64())
	binary.LittleEndian.PutUint64(b[8:16], mrand.Uint64())
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	FormatInto(out, b)
}

// Format returns b in lowercase canonical form
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).
func Format(b [16]byte) string {
	var out [36]byte
	FormatInto(&out, b)
	return string(out[:])
}

// FormatInto writes b in Format's form into out, without allocating.
func FormatInto(out *[36]byte, b [16]byte) {
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
}

// Parse returns the 16 bytes of s if s is a GUID in lowercase canonical
// form, the only form Format writes: Parse(Format(b)) is b, and for every
// s it accepts, Format of the result is s again. Anything else (upper case,
// braces, no hyphens) is not accepted.
func Parse(s string) (b [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++ // the hyphen; the next pair starts after it
		}
		hi, ok1 := nibble(s[i])
		lo, ok2 := nibble(s[i+1])
		if !ok1 || !ok2 {
			return [16]byte{}, false
		}
		b[j] = hi<<4 | lo
		j++
	}
	return b, true
}

func nibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
