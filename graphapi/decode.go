package graphapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/presenced/presenced/internal/bodyenc"
	"github.com/presenced/presenced/presence"
)

// param is one property of a JSON request body. dst is a pointer to decode
// the property's value into (an *optString for a string whose absence
// differs from any value), or a func(json.RawMessage) error for nested
// objects that are themselves decoded strictly.
type param struct {
	name string
	dst  any
}

// optString is an optional string parameter: given says whether the body
// had it (null counts as absent, as OData reads an optional parameter).
type optString struct {
	v     string
	given bool
}

// initialBodyBuffer is the most readBody allocates for a body before its
// bytes arrive: a setPresence is ~150 bytes, 650 ids ~30 KiB.
const initialBodyBuffer = 4 << 10

// readBody reads the request body, enforcing the size limit and the media
// type. It returns nil (and no error) for an empty body.
//
// Graph SDKs compress request bodies with gzip by default (their
// compression middleware only falls back to plain bodies on a 415), so
// gzip is decoded here; the limit applies to the decompressed size, so a
// small compressed body cannot expand without bound.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	return readBodyInto(r, limit, &buf)
}

// readBodyInto is readBody reading into buf (empty), so that a caller can
// recycle the buffer (bodyBufs) once it no longer needs the body: a
// getPresencesByUserId body of 650 ids is ~30 KiB, and reading it into a
// fresh buffer allocated ~75 KB a request as the buffer grew.
func readBodyInto(r *http.Request, limit int64, buf *bytes.Buffer) ([]byte, error) {
	src, gz, err := bodyenc.Reader(r)
	switch {
	case err != nil:
		return nil, encodingError(err)
	case gz != nil:
		defer gz.Close()
	case r.ContentLength > 0 && r.ContentLength <= limit:
		// Not encoded: size the buffer for a body of known length
		// (io.ReadAll grows from 512 bytes, copying as it goes), but only
		// up to what typical bodies need: the length is the client's word,
		// not bytes received, and 2,000 stalled requests announcing 128 KiB
		// held 300 MB. A larger body grows the buffer as its bytes arrive.
		buf.Grow(int(min(r.ContentLength, initialBodyBuffer)) + bytes.MinRead)
	}
	err = readAtMost(buf, src, limit+1)
	body := buf.Bytes()
	if err != nil {
		var ne net.Error
		switch {
		case int64(len(body)) > limit:
			return nil, presence.Errorf(presence.TooLarge, "", "The request body is larger than the limit of %d bytes.", limit)
		case errors.As(err, &ne) && ne.Timeout():
			// The server's read timeout: the body came too slowly.
			return nil, errBody(http.StatusRequestTimeout, "requestTimeout", "The request body did not arrive within the server's read timeout; send the whole request at once.")
		case errors.As(err, &ne):
			// Not err's words: a network error names this server's
			// addresses.
			return nil, errBody(http.StatusBadRequest, "UnableToDeserializePostBody", "The request body could not be read: the connection failed while it was sent.")
		}
		return nil, errBody(http.StatusBadRequest, "UnableToDeserializePostBody", "The request body could not be read: "+err.Error())
	}
	if int64(len(body)) > limit {
		return nil, presence.Errorf(presence.TooLarge, "", "The request body is larger than the limit of %d bytes (after decompression).", limit)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	ct := firstValue(r.Header, "Content-Type")
	if ct == "application/json" { // what clients send; parsing it allocates
		return body, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		return nil, presence.Errorf(presence.Unsupported, "Content-Type",
			"The request body must be JSON with Content-Type 'application/json'; got %q.", ct)
	}
	return body, nil
}

// encodingError is the Graph error for bodyenc.Reader's error (kept out
// of readBodyInto: its targets would be allocated on every request).
func encodingError(err error) error {
	var notGzip *bodyenc.NotGzipError
	if errors.As(err, &notGzip) {
		return errBody(http.StatusBadRequest, "UnableToDeserializePostBody", "The request body says Content-Encoding gzip but is not gzip data: "+notGzip.Err.Error())
	}
	var unsupported *bodyenc.UnsupportedError
	if errors.As(err, &unsupported) {
		return presence.Errorf(presence.Unsupported, "Content-Encoding",
			"Content-Encoding %q is not supported; send the body uncompressed or with gzip.", clip(unsupported.Encoding))
	}
	return errBody(http.StatusBadRequest, "UnableToDeserializePostBody", "The request body could not be read: "+err.Error())
}

// firstValue is h.Get(key) for a key in canonical form, read directly:
// Get checks and canonicalises the key on every call.
func firstValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// readAtMost is buf.ReadFrom(io.LimitReader(src, n)) without the
// LimitedReader, which escapes to the heap through ReadFrom's interface
// (an allocation every request with a body): it appends src's bytes to buf
// until src ends (nil) or buf holds n bytes (nil: the caller tells a body
// over its limit by its length), or returns src's error.
func readAtMost(buf *bytes.Buffer, src io.Reader, n int64) error {
	for int64(buf.Len()) < n {
		buf.Grow(bytes.MinRead)
		p := buf.AvailableBuffer()
		p = p[:min(int64(cap(p)), n-int64(buf.Len()))]
		m, err := src.Read(p)
		if m < 0 || m > len(p) {
			return errors.New("graphapi: a reader returned an impossible count")
		}
		buf.Write(p[:m]) // p is buf's own free space: this only moves its end
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeBody reads and strictly decodes the body of action. An empty body is
// accepted only when emptyOK (actions whose parameters are all optional).
//
// The body is read into a recycled buffer (flatBodyBufs). A flat body —
// what clients send — is scanned into one string copy that everything
// decoded is sliced from, so the buffer goes back to the pool at once:
// setPresence no longer allocates its ~150-byte body's buffer and the
// bytes.Buffer holding it (~650 bytes and 2 allocations a write). Any
// other body goes to the strict decoder, whose raw values are slices of
// the buffer: that buffer is left to the collector, never reused.
func decodeBody(r *http.Request, limit int64, action string, emptyOK bool, params ...param) error {
	buf := flatBodyBufs.Get().(*bytes.Buffer)
	body, err := readBodyInto(r, limit, buf)
	if err != nil {
		return err
	}
	if body == nil {
		recycleBody(buf)
		return decodeBytes(nil, action, emptyOK, params)
	}
	var flat [maxFlat]member
	if ms, ok := scanFlat(body, flat[:0]); ok {
		recycleBody(buf)
		return decodeFlat(ms, action, "", params)
	}
	return decodeBytes(body, action, emptyOK, params)
}

// recycleBody puts a buffer nothing refers to any more back in
// flatBodyBufs, unless it grew large.
func recycleBody(buf *bytes.Buffer) {
	if buf.Cap() <= maxRecycledBody {
		buf.Reset()
		flatBodyBufs.Put(buf)
	}
}

// flatBodyBufs recycles decodeBody's buffers (see there); one that grew
// past maxRecycledBody is dropped, so the pool holds no large buffers.
var flatBodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxRecycledBody = 16 << 10

// decodeBytes is decodeBody on a body already read (nil: empty).
func decodeBytes(body []byte, action string, emptyOK bool, params []param) error {
	if body == nil {
		if emptyOK {
			return nil
		}
		return errBody(http.StatusBadRequest, "invalidRequest",
			fmt.Sprintf("The request body of %s is empty; expected a JSON object with %s.", action, names(params)))
	}
	return decodeObject(body, action, "", params)
}

// decodeObject decodes one JSON object into params. Unknown properties are an
// error naming them, as Graph's OData layer does for action parameters;
// instance annotations ("@odata.type", "x@odata.type") are allowed. A
// property that appears twice, a body that is not UTF-8 and an unpaired
// surrogate escape are refused (strictObject).
func decodeObject(raw []byte, action, path string, params []param) error {
	var flat [maxFlat]member
	if ms, ok := scanFlat(raw, flat[:0]); ok {
		return decodeFlat(ms, action, path, params)
	}
	obj, err := strictObject(raw, path)
	if err != nil {
		return err
	}
	known := make(map[string]param, len(params))
	for _, p := range params {
		known[p.name] = p
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.Contains(k, "@") {
			continue
		}
		p, ok := known[k]
		if !ok {
			return unknownParam(action, path, k, params)
		}
		v := obj[k]
		if string(bytes.TrimSpace(v)) == "null" {
			continue
		}
		var err error
		switch dst := p.dst.(type) {
		case *string:
			err = json.Unmarshal(v, dst)
		case *optString:
			dst.given = true
			err = json.Unmarshal(v, &dst.v)
		case func(json.RawMessage) error:
			err = dst(v)
		default:
			err = json.Unmarshal(v, dst)
		}
		if err != nil {
			return paramError(err, path, k, p)
		}
	}
	return nil
}

// paramError is the error of a parameter whose value did not decode: the
// decoder's own when it is already one for the client, else what the
// parameter must be.
func paramError(err error, path, k string, p param) error {
	var pe *presence.Error
	var he *httpError
	if errors.As(err, &pe) || errors.As(err, &he) {
		return err
	}
	return presence.Errorf(presence.Invalid, path+k, "Property '%s' must be %s.", path+k, typeName(p.dst))
}

// unknownParam is the error of a property that is no parameter of action.
func unknownParam(action, path, k string, params []param) error {
	msg := fmt.Sprintf("Property '%s' is not a parameter of %s; its parameters are %s.", path+k, action, names(params))
	if len(params) == 0 {
		// clearLocation, clearAutomaticLocation, clearUserPreferredPresence:
		// there is no list to name.
		msg = fmt.Sprintf("Property '%s' is not a parameter of %s; %s takes no parameters: send {} or no body.", path+k, action, action)
	}
	for _, p := range params {
		if strings.EqualFold(p.name, k) {
			msg = fmt.Sprintf("Property '%s' is not a parameter of %s; did you mean '%s'? Parameter names are case-sensitive.", path+k, action, path+p.name)
		}
	}
	return presence.Errorf(presence.Invalid, path+k, "%s", msg)
}

// decodeFlat is decodeObject on a body scanFlat took, without a map: the
// members are visited in the order of their names, as decodeObject visits
// a map's (so the first unknown property reported is the same), and each
// string parameter is a slice of the body's one string copy.
//
// The order matters only to which error is reported: when every member
// is an annotation or a string parameter, none can fail and each sets its
// own parameter (no name twice), so they are not sorted — setPresence's
// body, every write.
func decodeFlat(ms []member, action, path string, params []param) error {
	if !flatCannotFail(ms, params) {
		slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
	}
	for _, m := range ms {
		if strings.Contains(m.key, "@") {
			continue
		}
		i := slices.IndexFunc(params, func(p param) bool { return p.name == m.key })
		if i < 0 {
			return unknownParam(action, path, m.key, params)
		}
		v := m.val[1 : len(m.val)-1] // a plain string: its bytes between the quotes are its value
		switch dst := params[i].dst.(type) {
		case *string:
			*dst = v
		case *optString:
			dst.given, dst.v = true, v
		case func(json.RawMessage) error:
			if err := dst(json.RawMessage(m.val)); err != nil {
				return paramError(err, path, m.key, params[i])
			}
		default:
			if err := json.Unmarshal([]byte(m.val), dst); err != nil {
				return paramError(err, path, m.key, params[i])
			}
		}
	}
	return nil
}

// flatCannotFail reports whether decodeFlat cannot fail on ms: each member
// an annotation or a parameter decoded as a plain string.
func flatCannotFail(ms []member, params []param) bool {
	for _, m := range ms {
		if strings.Contains(m.key, "@") {
			continue
		}
		i := slices.IndexFunc(params, func(p param) bool { return p.name == m.key })
		if i < 0 {
			return false
		}
		switch params[i].dst.(type) {
		case *string, *optString:
		default:
			return false
		}
	}
	return true
}

func names(params []param) string {
	n := make([]string, len(params))
	for i, p := range params {
		n[i] = "'" + p.name + "'"
	}
	return strings.Join(n, ", ")
}

func typeName(dst any) string {
	switch dst.(type) {
	case *string, *optString:
		return "a string"
	case *[]string:
		return "an array of strings"
	case *bool:
		return "true or false"
	case func(json.RawMessage) error:
		return "an object"
	}
	return "a value of another type"
}

func jsonProblem(raw []byte, err error) string {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, se.Error())
	case err == nil:
		return "got null"
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "the JSON ends early"
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return "got a JSON " + ute.Value
	}
	return err.Error()
}

// scanIDs is the fast path of decodeIDs, for the body clients send:
// {"ids":["…",…]} with at most MaxIDs strings of printable ASCII without
// escapes, JSON whitespace allowed between tokens. For such a body it
// returns what decodeIDsStrict returns (FuzzScanIDs checks this), but with
// one string copy of the body for all ids instead of a json.RawMessage and
// a json.Unmarshal per id (decoding was a third of the handler's time for
// 650 ids). Anything else — annotations, escapes, non-ASCII, too many ids
// and every malformed body — is not ok, and the strict decoder decides, so
// accepted input and error messages are the strict decoder's.
func scanIDs(body []byte) (ids []string, ok bool) { return scanIDsInto(string(body), nil) }

// scanIDsInto is scanIDs of s, appending to ids[:0]: the ids are slices of
// s, so that a caller who owns s (a view of a recycled body buffer) copies
// nothing — it must not keep them after it recycles the buffer.
func scanIDsInto(s string, ids []string) (_ []string, ok bool) {
	i := skipSpace(s, 0)
	for _, tok := range [...]string{"{", `"ids"`, ":", "["} {
		if !strings.HasPrefix(s[i:], tok) {
			return nil, false
		}
		i = skipSpace(s, i+len(tok))
	}
	if want := min(strings.Count(s[i:], `"`)/2, MaxIDs); ids == nil || cap(ids) < want {
		ids = make([]string, 0, want)
	}
	ids = ids[:0]
	if i < len(s) && s[i] == ']' {
		i++
	} else {
		for {
			if len(ids) == MaxIDs {
				return nil, false
			}
			end, ok := plainString(s, i)
			if !ok {
				return nil, false
			}
			ids = append(ids, s[i+1:end-1])
			i = skipSpace(s, end)
			if i < len(s) && s[i] == ',' {
				i = skipSpace(s, i+1)
				continue
			}
			if i < len(s) && s[i] == ']' {
				i++
				break
			}
			return nil, false
		}
	}
	i = skipSpace(s, i)
	if i >= len(s) || s[i] != '}' || skipSpace(s, i+1) != len(s) {
		return nil, false
	}
	return ids, true
}

// scanFlat splits the usual action body — one JSON object whose values are
// all plain strings — without encoding/json, which took 13 µs of a
// setPresence handler's 52 µs of CPU to do it. Plain means: keys and values
// of printable ASCII without escapes, no key twice, JSON whitespace between
// tokens, nothing after the object, at most maxFlat members. It appends to
// into the members decoding into map[string]json.RawMessage would give
// (each value with its quotes; FuzzScanFlat checks that), as slices of one
// string copy of the body: with into on the caller's stack, that copy is
// its one allocation. Anything else is not ok, and the strict decoder
// decides, so accepted input and error messages are the strict decoder's.
func scanFlat(body []byte, into []member) (ms []member, ok bool) {
	s := string(body) // one copy: the keys and values are slices of it
	ms = into
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return nil, false
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return ms, skipSpace(s, i+1) == len(s)
	}
	for {
		kEnd, ok := plainString(s, i)
		if !ok || len(ms) == maxFlat {
			return nil, false
		}
		key := s[i+1 : kEnd-1]
		if slices.ContainsFunc(ms, func(m member) bool { return m.key == key }) {
			return nil, false
		}
		i = skipSpace(s, kEnd)
		if i >= len(s) || s[i] != ':' {
			return nil, false
		}
		i = skipSpace(s, i+1)
		vEnd, ok := plainString(s, i)
		if !ok {
			return nil, false
		}
		ms = append(ms, member{key: key, val: s[i:vEnd]})
		i = skipSpace(s, vEnd)
		if i < len(s) && s[i] == ',' {
			i = skipSpace(s, i+1)
			continue
		}
		if i < len(s) && s[i] == '}' {
			return ms, skipSpace(s, i+1) == len(s)
		}
		return nil, false
	}
}

// member is one member of a flat object: its name, and its value as
// written (a plain string, with its quotes).
type member struct{ key, val string }

// maxFlat is the most members scanFlat takes (an action has at most a
// handful of parameters); a larger object goes to the strict decoder.
const maxFlat = 16

// plainString reports whether a plain JSON string starts at s[i]: a quote,
// printable ASCII without '"' or '\\' (so no escapes), a quote. end is
// just after the closing quote. Both fast scanners take only such strings.
func plainString(s string, i int) (end int, ok bool) {
	if i >= len(s) || s[i] != '"' {
		return 0, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return j + 1, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return 0, false
		}
	}
	return 0, false
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}
