package presence

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Code classifies an Error. The HTTP layer maps each code to one status and
// one Graph error code; nothing below HTTP knows about status codes.
type Code string

// Error codes.
const (
	Invalid         Code = "invalid"         // the request itself is wrong (400)
	Unauthenticated Code = "unauthenticated" // no valid token (401)
	Forbidden       Code = "forbidden"       // valid token, not allowed (403)
	NotFound        Code = "not_found"       // no such user, session, … (404)
	Conflict        Code = "conflict"        // state forbids it (409)
	TooLarge        Code = "too_large"       // body over the size limit (413)
	Unsupported     Code = "unsupported"     // wrong media type (415)
	Unavailable     Code = "unavailable"     // engine not reachable (503)
	Internal        Code = "internal"        // a bug or an unexpected failure (500)
)

// Error is a failure the caller can act on. Message is written for the
// developer who sent the request: it names the offending field and the
// accepted values.
type Error struct {
	Code    Code
	Field   string // the request field at fault, if any ("availability", "ids[3]")
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf builds an *Error.
func Errorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or Internal for foreign errors.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// ErrorMessage returns the developer-facing message of err; foreign errors
// get a safe generic message so that internals do not leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred."
}

// Clip shortens s, input echoed in a message, to at most n bytes (n > 3),
// marking the cut with "..."; the cut falls on a rune boundary.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
