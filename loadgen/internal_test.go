package loadgen

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A run's bounds are shared out over its rounds as evenly as they divide,
// and a count bound too small for every round leaves the rest out.
func TestRoundsShareTheBounds(t *testing.T) {
	for _, c := range []struct {
		name  string
		cfg   Config
		count int
		want  []round
	}{
		{"duration", Config{Duration: 10 * time.Second}, 5, []round{
			{dur: 2 * time.Second, num: 1, count: 5}, {dur: 2 * time.Second, num: 2, count: 5}, {dur: 2 * time.Second, num: 3, count: 5},
			{dur: 2 * time.Second, num: 4, count: 5}, {dur: 2 * time.Second, num: 5, count: 5}}},
		{"duration remainder to the last", Config{Duration: 10}, 3, []round{
			{dur: 3, num: 1, count: 3}, {dur: 3, num: 2, count: 3}, {dur: 4, num: 3, count: 3}}},
		{"requests", Config{Requests: 7}, 3, []round{{n: 3, num: 1, count: 3}, {n: 2, num: 2, count: 3}, {n: 2, num: 3, count: 3}}},
		{"fewer requests than rounds", Config{Requests: 2}, 5, []round{{n: 1, num: 1, count: 5}, {n: 1, num: 2, count: 5}}},
		{"both", Config{Duration: time.Second, Requests: 4}, 2, []round{
			{dur: 500 * time.Millisecond, n: 2, num: 1, count: 2}, {dur: 500 * time.Millisecond, n: 2, num: 2, count: 2}}},
		{"one round", Config{Duration: time.Second}, 1, []round{{dur: time.Second, num: 1, count: 1}}},
	} {
		if got := rounds(c.cfg, c.count); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

// The baseline is on this machine's loopback; a presenced elsewhere makes
// the report say so.
func TestIsLoopback(t *testing.T) {
	for u, want := range map[string]bool{
		"http://127.0.0.1:8080": true, "http://127.8.9.1": true, "http://[::1]:8080": true, "http://LocalHost:80": true,
		"http://10.0.0.5:8080": false, "https://presence.example.com": false, "http://[2001:db8::1]:80": false,
	} {
		if got := isLoopback(u); got != want {
			t.Errorf("isLoopback(%s) = %v", u, got)
		}
	}
}

// ServeBare says where it listens on its first line and stops when its
// input ends.
func TestServeBareStopsAtTheEndOfItsInput(t *testing.T) {
	in, feed := io.Pipe()
	ready, readyW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- ServeBare(context.Background(), "127.0.0.1:0", []byte(`{"id":"x"}`), in, readyW) }()
	line := make([]byte, 64)
	n, err := ready.Read(line)
	base := strings.TrimSpace(string(line[:n]))
	if err != nil || !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(string(line[:n]), "\n") {
		t.Fatalf("first line %q, %v", line[:n], err)
	}
	resp, err := http.Get(base + "/v1.0/users/x/presence")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `{"id":"x"}` {
		t.Errorf("GET answered %q", body)
	}
	feed.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeBare: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeBare still serves 10s after its input ended")
	}
}
