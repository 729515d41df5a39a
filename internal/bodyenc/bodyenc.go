// Package bodyenc reads a request body as its Content-Encoding says: the
// one place that decides which encodings presenced takes (none, or gzip,
// as the Graph SDKs send) for the APIs that take a JSON body (Graph's
// routes, SCIM).
package bodyenc

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
)

// NotGzipError is Reader's error for a body that says gzip but is not.
type NotGzipError struct{ Err error }

func (e *NotGzipError) Error() string { return "not gzip data: " + e.Err.Error() }

// UnsupportedError is Reader's error for an encoding presenced does not
// take; Encoding is the caller's word for it, lowercased.
type UnsupportedError struct{ Encoding string }

func (e *UnsupportedError) Error() string {
	return "Content-Encoding " + e.Encoding + " is not supported"
}

// Reader is r's body decoded: r.Body itself when it is not encoded (gz
// nil), or gz, a gzip reader of it (close it when done). A limit on what
// is read from gz counts the body after decompression, so a small
// compressed body cannot expand without bound.
func Reader(r *http.Request) (body io.Reader, gz *gzip.Reader, err error) {
	var enc string
	if v := r.Header["Content-Encoding"]; len(v) > 0 { // read directly: Get canonicalises the key on every call
		enc = strings.ToLower(strings.TrimSpace(v[0]))
	}
	switch enc {
	case "", "identity":
		return r.Body, nil, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, nil, &NotGzipError{Err: err}
		}
		return zr, zr, nil
	}
	return nil, nil, &UnsupportedError{Encoding: enc}
}
