package graphapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// httpError is a failure that only exists at the HTTP level (a body that is
// not JSON, a wrong method or media type). It carries its own Graph code.
type httpError struct {
	status  int
	code    string
	message string
	// retryAfter, when not zero, is the Retry-After header in seconds
	// (429 and 503).
	retryAfter int
}

func (e *httpError) Error() string { return e.message }

func errBody(status int, code, message string) error {
	return &httpError{status: status, code: code, message: message}
}

// statusOf maps a domain error code to the HTTP status and Graph error code.
// This table is the whole of the error mapping; see docs/design.md.
var statusOf = map[presence.Code]struct {
	status int
	code   string
}{
	presence.Invalid:         {http.StatusBadRequest, "invalidRequest"},
	presence.Unauthenticated: {http.StatusUnauthorized, "InvalidAuthenticationToken"},
	presence.Forbidden:       {http.StatusForbidden, "accessDenied"},
	presence.NotFound:        {http.StatusNotFound, "itemNotFound"},
	presence.Conflict:        {http.StatusConflict, "conflict"},
	presence.TooLarge:        {http.StatusRequestEntityTooLarge, "requestEntityTooLarge"},
	presence.Unsupported:     {http.StatusUnsupportedMediaType, "unsupportedMediaType"},
	presence.Unavailable:     {http.StatusServiceUnavailable, "serviceNotAvailable"},
	presence.Internal:        {http.StatusInternalServerError, "generalException"},
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code       string     `json:"code"`
	Message    string     `json:"message"`
	Target     string     `json:"target,omitempty"`
	InnerError innerError `json:"innerError"`
}

type innerError struct {
	Date            string `json:"date"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

// writeError renders err as a Graph error body.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg, target := http.StatusInternalServerError, "generalException", presence.ErrorMessage(err), ""
	retryAfter := 0
	var he *httpError
	var pe *presence.Error
	switch {
	case errors.As(err, &he):
		status, code, msg, retryAfter = he.status, he.code, he.message, he.retryAfter
	case errors.As(err, &pe):
		m := statusOf[pe.Code]
		if m.status != 0 {
			status, code = m.status, m.code
		}
		target = pe.Field
	case errors.Is(err, store.ErrFull):
		full, _ := store.FullMessage(err)
		status, code, msg = http.StatusServiceUnavailable, "serviceNotAvailable", full
	case errors.Is(err, store.ErrUnavailable):
		// The engine did not answer in time (slow, no leader, no quorum):
		// the client is to try again, whichever path met it (a stream's
		// watch or log position, a subscription's claim: issue #10).
		status, code, msg = http.StatusServiceUnavailable, "serviceNotAvailable", "The engine did not answer in time; retry the request."
	}
	// A client that hung up is not a server failure, and an overloaded
	// node's refusals (they carry their own Retry-After) are logged by the
	// guard, at most once a minute.
	if status >= 500 && r.Context().Err() == nil && (he == nil || he.retryAfter == 0) {
		a.logFailure(w, r, err)
	}
	if retryAfter == 0 && status == http.StatusServiceUnavailable {
		retryAfter = 1
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", a.challenge(r, msg))
	}
	body := errorBody{Error: errorDetail{
		Code:    code,
		Message: msg,
		Target:  target,
		InnerError: innerError{
			Date:            a.clock.Now().UTC().Format("2006-01-02T15:04:05"),
			RequestID:       w.Header().Get("request-id"),
			ClientRequestID: w.Header().Get("client-request-id"),
		},
	}}
	writeJSON(w, status, body)
}

// Header values every JSON answer carries, set without allocating.
var (
	contentTypeJSON = []string{"application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"}
	odataVersion    = []string{"4.0"}
)

// graphAppID is Microsoft Graph's application (resource) id, which Graph's
// challenge names as client_id.
const graphAppID = "00000003-0000-0000-c000-000000000000"

// challenge is a 401's WWW-Authenticate: Graph's (realm, where to sign in,
// the resource's client_id), with the issuer being this server; and, when a
// bearer token was presented, RFC 6750 §3.1's error="invalid_token" and
// why it was refused. A request that presented no bearer token gets no
// error attribute (RFC 6750 §3.1: it lacks authentication information).
func (a *API) challenge(r *http.Request, why string) string {
	c := `Bearer realm="", authorization_uri="` + a.baseURL + `/common/oauth2/authorize", client_id="` + graphAppID + `"`
	if presentsBearer(r) {
		c += `, error="invalid_token", error_description=` + strconv.Quote(why)
	}
	return c
}

// presentsBearer reports whether r carries a bearer token, however
// malformed (the stream's access_token is moved into the header before
// authentication).
func presentsBearer(r *http.Request) bool {
	scheme, tok, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	return strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(tok) != ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		slog.Error("encode response", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	writeBody(w, status, b)
}

// writeBody answers with the JSON body b. A successful answer is an OData
// payload and says its protocol version, as Graph's do (its errors do not).
func writeBody(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	if status < 300 {
		h["OData-Version"] = odataVersion // as Graph spells it (not Go's canonical Odata-Version)
	}
	h["Content-Length"] = contentLength(len(b))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// contentLengths are the Content-Length header's values for the lengths
// of most answers (a presence is ~300–600 bytes, an error ~300), made
// once: strconv.Itoa and the value's slice were two allocations of every
// answer. They are shared, as contentTypeJSON is: nothing changes a
// header's values in place (Set replaces the slice, Add appends past its
// capacity of one).
var contentLengths = func() (v [2048][]string) {
	for n := range v {
		v[n] = []string{strconv.Itoa(n)}
	}
	return v
}()

// contentLength is the Content-Length header's value for n bytes.
func contentLength(n int) []string {
	if n < len(contentLengths) {
		return contentLengths[n][:1:1]
	}
	return []string{strconv.Itoa(n)}
}
