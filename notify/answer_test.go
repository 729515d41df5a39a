package notify

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
)

// quickAnswer decides an answer only when http.ReadResponse would read it
// the same way: the same status, the connection kept, and the same bytes
// taken (head and body, what follows left for the next answer).
func FuzzQuickAnswerIsReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",          // body not all there
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 2", // the next answer's start
		"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 3\r\nRetry-After: 1\r\n\r\nbad",
		"HTTP/1.1 500\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 01\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length:  1 \r\n\r\nx",
		"HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n Folded: 1\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, code, status, ok := quickAnswer(b)
		if !ok {
			return // http.ReadResponse reads it
		}
		req, _ := http.NewRequest(http.MethodPost, "http://receiver/", nil)
		br := bufio.NewReader(bytes.NewReader(b))
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("%q: quickAnswer read %d, http.ReadResponse failed: %v", b, code, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%q: the body: %v", b, err)
		}
		left := len(b) - n
		switch {
		case resp.StatusCode != code || resp.Status != string(status):
			t.Fatalf("%q: quickAnswer %d %q, http.ReadResponse %d %q", b, code, status, resp.StatusCode, resp.Status)
		case resp.Close:
			t.Fatalf("%q: quickAnswer keeps the connection, http.ReadResponse closes it", b)
		case br.Buffered() != left || resp.ContentLength != int64(len(body)):
			t.Fatalf("%q: quickAnswer took %d bytes, http.ReadResponse left %d (body %d)", b, n, br.Buffered(), len(body))
		}
	})
}

// quickAnswer takes the plain answers, which are what it is for, and
// leaves the others to http.ReadResponse.
func TestQuickAnswerTakesThePlainKind(t *testing.T) {
	for s, want := range map[string]bool{
		"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n":                                    true,
		"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok": true,
		"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n":                         true,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n":                        false,
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n":                     false,
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel":                                       false,
		"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n":                                          false,
	} {
		if _, _, _, ok := quickAnswer([]byte(s)); ok != want {
			t.Errorf("%q: taken %v, want %v", s, ok, want)
		}
	}
}
