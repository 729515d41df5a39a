package graphapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/presenced/presenced/presence"
)

// MaxBatch is how many requests one $batch may hold (Graph's limit).
const MaxBatch = 20

// batchRequest is one request of a $batch, as decoded and checked.
type batchRequest struct {
	id, method, url string
	headers         map[string]string
	body            []byte // nil: none
	dependsOn       []string
	deps            []int // dependsOn as indexes into the batch
}

// batchMethods are the methods a sub-request may use (the presence API
// takes GET and POST; the others reach its 405s like any request).
var batchMethods = map[string]bool{"GET": true, "POST": true, "PATCH": true, "PUT": true, "DELETE": true}

// batch serves POST /v1.0/$batch and /beta/$batch (Graph's JSON batching):
// the whole batch is decoded and checked first, so that a malformed one is
// a single 400 and runs nothing; then each request is served by the same
// routes as any request (a.route), with the batch's token, in an order that
// respects dependsOn, each authorised and throttled on its own. A request
// whose dependency failed is not run: 424.
func (a *API) batch(w http.ResponseWriter, r *http.Request) {
	if _, err := a.principal(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	body, err := readBody(r, a.maxBody)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	reqs, err := decodeBatch(body)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	order, err := batchOrder(reqs)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	version := "/v1.0"
	if strings.HasPrefix(r.URL.Path, "/beta/") {
		version = "/beta"
	}
	results := make([]subResponse, len(reqs))
	for _, i := range order {
		results[i] = a.runSub(r, version, reqs, results, i)
	}
	p := getBuf()
	b := append((*p)[:0], `{"responses":[`...)
	for i := range results {
		if i > 0 {
			b = append(b, ',')
		}
		b = results[i].append(b, reqs[i].id)
	}
	b = append(b, "]}"...)
	*p = b
	writeBody(w, http.StatusOK, b)
	putBuf(p)
}

// decodeBatch reads {"requests":[…]} strictly and checks each request on
// its own: id, method and a relative url are required, a body needs a
// Content-Type header, ids are unique (ignoring case) and dependsOn names
// other requests of the batch.
func decodeBatch(body []byte) ([]batchRequest, error) {
	var reqs []batchRequest
	present := false
	err := decodeBytes(body, "$batch", false, []param{{"requests", func(raw json.RawMessage) error {
		present = true
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return presence.Errorf(presence.Invalid, "requests", "Property 'requests' must be an array of request objects.")
		}
		if len(items) == 0 || len(items) > MaxBatch {
			return presence.Errorf(presence.Invalid, "requests",
				"The batch has %d requests; a batch holds 1 to %d requests.", len(items), MaxBatch)
		}
		reqs = make([]batchRequest, len(items))
		for i, it := range items {
			if err := decodeBatchRequest(it, i, &reqs[i]); err != nil {
				return err
			}
		}
		return nil
	}}})
	if err != nil {
		return nil, err
	}
	if !present {
		return nil, presence.Errorf(presence.Invalid, "requests", "Property 'requests' is required: an array of 1 to %d requests, each with 'id', 'method' and 'url'.", MaxBatch)
	}
	index := make(map[string]int, len(reqs))
	for i, q := range reqs {
		k := strings.ToLower(q.id)
		if j, dup := index[k]; dup {
			return nil, presence.Errorf(presence.Invalid, fmt.Sprintf("requests[%d].id", i),
				"requests[%d] and requests[%d] both have the id '%s'; ids must be unique in a batch (ignoring case).", j, i, clip(q.id))
		}
		index[k] = i
	}
	for i := range reqs {
		q := &reqs[i]
		for _, d := range q.dependsOn {
			j, ok := index[strings.ToLower(d)]
			if !ok || j == i {
				why := "no request of the batch has that id"
				if ok {
					why = "a request cannot depend on itself"
				}
				return nil, presence.Errorf(presence.Invalid, fmt.Sprintf("requests[%d].dependsOn", i),
					"requests[%d].dependsOn names '%s': %s.", i, clip(d), why)
			}
			q.deps = append(q.deps, j)
		}
	}
	return reqs, nil
}

// decodeBatchRequest decodes and checks requests[i].
func decodeBatchRequest(raw json.RawMessage, i int, q *batchRequest) error {
	path := fmt.Sprintf("requests[%d].", i)
	var rawBody json.RawMessage
	err := decodeObject(raw, "a $batch request", path, []param{
		{"id", &q.id}, {"method", &q.method}, {"url", &q.url},
		{"headers", func(raw json.RawMessage) error {
			if err := json.Unmarshal(raw, &q.headers); err != nil {
				return presence.Errorf(presence.Invalid, path+"headers", "Property '%sheaders' must be an object of header names and string values, e.g. {\"Content-Type\": \"application/json\"}.", path)
			}
			return nil
		}},
		{"body", func(raw json.RawMessage) error { rawBody = raw; return nil }},
		{"dependsOn", &q.dependsOn},
	})
	if err != nil {
		return err
	}
	switch {
	case q.id == "":
		return presence.Errorf(presence.Invalid, path+"id", "Property '%sid' is required: a string that names the request in the batch.", path)
	case q.method == "":
		return presence.Errorf(presence.Invalid, path+"method", "Property '%smethod' is required: GET, POST, PATCH, PUT or DELETE.", path)
	case !batchMethods[strings.ToUpper(q.method)]:
		return presence.Errorf(presence.Invalid, path+"method", "%smethod '%s' is not accepted; accepted: GET, POST, PATCH, PUT, DELETE.", path, clip(q.method))
	case q.url == "":
		return presence.Errorf(presence.Invalid, path+"url", "Property '%surl' is required: the request's URL relative to the version, e.g. '/users/{id}/presence'.", path)
	}
	q.method = strings.ToUpper(q.method)
	u, err := url.Parse(q.url)
	switch {
	case err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.Fragment != "":
		return presence.Errorf(presence.Invalid, path+"url",
			"%surl '%s' is not a URL relative to the version: write it as '/users/{id}/presence', without the scheme, host or version.", path, clip(q.url))
	case strings.EqualFold(strings.Trim(u.Path, "/"), "$batch"):
		return presence.Errorf(presence.Invalid, path+"url", "%surl: a batch cannot contain a batch.", path)
	case cleanPath(u.Path) != "/"+strings.TrimPrefix(u.Path, "/"):
		// The routes would answer it with a redirect to the clean path,
		// which a request of a batch cannot follow; refused before any
		// request of the batch runs.
		return presence.Errorf(presence.Invalid, path+"url",
			"%surl '%s' has '.', '..' or empty path segments; write the path it means, e.g. '/users/{id}/presence'.", path, clip(q.url))
	}
	if rawBody != nil {
		if _, ok := header(q.headers, "Content-Type"); !ok {
			return presence.Errorf(presence.Invalid, path+"headers",
				"requests[%d] has a body but no Content-Type header; add \"headers\": {\"Content-Type\": \"application/json\"}.", i)
		}
		q.body = []byte(rawBody)
		// A string is the body base64-encoded (Graph's form for bodies
		// that are not JSON).
		if t := bytes.TrimSpace(rawBody); len(t) > 0 && t[0] == '"' {
			var s string
			if err := json.Unmarshal(t, &s); err != nil {
				return presence.Errorf(presence.Invalid, path+"body", "Property '%sbody' is not a valid JSON string.", path)
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				if b, err = base64.URLEncoding.DecodeString(s); err != nil {
					return presence.Errorf(presence.Invalid, path+"body",
						"Property '%sbody' is a string, so it must be the body base64-encoded; it is not base64. Send a JSON body as an object.", path)
				}
			}
			q.body = b
		}
	}
	return nil
}

// header finds a header in a batch request's headers, ignoring the case
// of its name as HTTP does.
func header(h map[string]string, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// batchOrder is the order to run reqs in: each after its dependencies,
// otherwise in the order of the batch. A cycle is a 400.
func batchOrder(reqs []batchRequest) ([]int, error) {
	done := make([]bool, len(reqs))
	order := make([]int, 0, len(reqs))
	for len(order) < len(reqs) {
		progress := false
		for i := range reqs {
			if done[i] {
				continue
			}
			ready := true
			for _, d := range reqs[i].deps {
				ready = ready && done[d]
			}
			if ready {
				done[i], progress = true, true
				order = append(order, i)
				break // the earliest ready request first
			}
		}
		if !progress {
			var cycle []string
			for i := range reqs {
				if !done[i] {
					cycle = append(cycle, "'"+clip(reqs[i].id)+"'")
				}
			}
			return nil, presence.Errorf(presence.Invalid, "requests", "The requests %s depend on each other in a cycle (dependsOn); none of them can run first.", strings.Join(cycle, ", "))
		}
	}
	return order, nil
}

// subResponse is the answer to one request of a batch.
type subResponse struct {
	status  int
	headers http.Header
	body    []byte
}

// runSub serves reqs[i], or answers 424 if a request it depends on failed.
func (a *API) runSub(r *http.Request, version string, reqs []batchRequest, results []subResponse, i int) subResponse {
	q := reqs[i]
	for _, d := range q.deps {
		if st := results[d].status; st < 200 || st > 299 {
			return a.subError(r, errBody(http.StatusFailedDependency, "failedDependency",
				fmt.Sprintf("Request '%s' depends on request '%s', which failed with %d; it was not run.", clip(q.id), clip(reqs[d].id), st)))
		}
	}
	target := version + "/" + strings.TrimPrefix(q.url, "/")
	sub, err := http.NewRequestWithContext(r.Context(), q.method, target, bytes.NewReader(q.body))
	if err != nil {
		return a.subError(r, presence.Errorf(presence.Invalid, "url", "Request '%s': url '%s' is not a valid URL.", clip(q.id), clip(q.url)))
	}
	sub.RemoteAddr, sub.Host, sub.ContentLength = r.RemoteAddr, r.Host, int64(len(q.body))
	if q.body == nil {
		sub.Body = http.NoBody
	}
	for k, v := range q.headers {
		switch strings.ToLower(k) {
		case "authorization", "content-length", "content-encoding", "host":
			// Every request of a batch runs with the batch's token, and
			// its body is already decoded.
		default:
			sub.Header.Set(k, v)
		}
	}
	sub.Header.Set("Authorization", r.Header.Get("Authorization"))
	if sub.Header.Get("client-request-id") == "" {
		sub.Header.Set("client-request-id", r.Header.Get("client-request-id"))
	}
	rec := &recorder{h: http.Header{}}
	a.stamp(rec.h, sub)
	a.route(rec, sub)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	rec.h.Del("Content-Length")
	return subResponse{status: rec.status, headers: rec.h, body: rec.body.Bytes()}
}

// subError is the answer to a request of a batch that was not run.
func (a *API) subError(r *http.Request, err error) subResponse {
	rec := &recorder{h: http.Header{}}
	sub := r.Clone(r.Context())
	a.stamp(rec.h, sub)
	a.writeError(rec, sub, err)
	rec.h.Del("Content-Length")
	return subResponse{status: rec.status, headers: rec.h, body: rec.body.Bytes()}
}

// append writes the response as Graph writes one in "responses": id,
// status, headers (each header's values joined), and the body — inline
// when it is JSON, base64-encoded otherwise, absent when empty.
func (s *subResponse) append(b []byte, id string) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(s.status), 10)
	b = append(b, `,"headers":{`...)
	first := true
	for _, k := range sortedKeys(s.headers) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, strings.Join(s.headers[k], ", "))
	}
	b = append(b, '}')
	if len(s.body) > 0 {
		b = append(b, `,"body":`...)
		// The routes write JSON exactly when they say so: the body is
		// embedded as it is.
		if strings.HasPrefix(s.headers.Get("Content-Type"), "application/json") {
			b = append(b, s.body...)
		} else {
			b = appendString(b, base64.StdEncoding.EncodeToString(s.body))
		}
	}
	return append(b, '}')
}

func sortedKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	// Few keys: insertion sort, no sort.Strings allocation.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// recorder is the in-memory ResponseWriter a request of a batch is served
// into.
type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}
