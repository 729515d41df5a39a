package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/observe"
	"github.com/presenced/presenced/observe/reqlog"
	"github.com/presenced/presenced/store"
)

// A revision conflict is the engine's answer, counted per bucket; a key
// not found is neither a conflict nor a failure.
func TestEngineConflictsAreCounted(t *testing.T) {
	m := observe.NewMetrics()
	kv := observe.KV(enginetest.Bucket(t, "presence"), "presence", m, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	rev, err := kv.Put(ctx, "u.t.a", []byte("1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "u.t.a", []byte("2"), rev+7); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("put at a stale revision: %v", err)
	}
	if _, err := kv.Get(ctx, "u.t.nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get: %v", err)
	}
	want := `
# HELP presenced_engine_revision_conflicts_total Writes refused because the key's revision had moved (another writer was first), by bucket.
# TYPE presenced_engine_revision_conflicts_total counter
presenced_engine_revision_conflicts_total{bucket="presence"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "presenced_engine_revision_conflicts_total"); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"get", "put"} {
		if n := gathered(t, m, "presenced_engine_errors_total", "bucket", "presence", "op", op); n != 0 {
			t.Errorf("%v %s errors after no failure", n, op)
		}
	}
	if n := gathered(t, m, "presenced_engine_operation_duration_seconds", "bucket", "presence", "op", "put"); n != 2 {
		t.Errorf("%v puts timed, want 2", n)
	}
}

// An engine failure in a request is counted and logged with the request's
// fields, so that it joins the request's access line.
func TestEngineFailureLogCarriesRequestFields(t *testing.T) {
	engine := enginetest.Open(t)
	bucket, err := engine.Bucket(context.Background(), "presence")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	m := observe.NewMetrics()
	kv := observe.KV(bucket, "presence", m, slog.New(slog.NewJSONHandler(&out, nil)))
	if err := engine.Close(); err != nil {
		t.Fatal(err)
	}
	info := &reqlog.Info{RequestID: "req-1", ClientRequestID: "client-1", Method: "POST"}
	ctx := reqlog.With(context.Background(), info)
	reqlog.SetCaller(ctx, "tenant-1", "app-1")
	if _, err := kv.Put(ctx, "u.t.a", []byte("1"), 0); err == nil {
		t.Fatal("a put on a closed engine succeeded")
	}
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("log: %q", out.String())
	}
	for k, v := range map[string]any{"msg": "engine operation failed", "level": "ERROR", "request_id": "req-1", "client_request_id": "client-1",
		"tenant": "tenant-1", "app": "app-1", "bucket": "presence", "op": "put"} {
		if line[k] != v {
			t.Errorf("%s = %v, want %v (%s)", k, line[k], v, out.String())
		}
	}
	if n := gathered(t, m, "presenced_engine_errors_total", "bucket", "presence", "op", "put"); n != 1 {
		t.Errorf("engine errors = %v, want 1", n)
	}
}

// gathered is the value (a histogram's count) of the series of name with
// exactly the label pairs.
func gathered(t *testing.T, m *observe.Metrics, name string, pairs ...string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.Metric {
			if len(s.Label) != len(pairs)/2 {
				continue
			}
			for i, l := range s.Label {
				if l.GetName() != pairs[2*i] || l.GetValue() != pairs[2*i+1] {
					continue series
				}
			}
			if s.Histogram != nil {
				return float64(s.Histogram.GetSampleCount())
			}
			return s.Counter.GetValue()
		}
	}
	return -1
}

// A read that the caller's callback stops (the fanout's "page full", a
// reader gone) ends with the callback's error: not an engine failure, so
// neither counted nor logged as one. Before, every full page of a replay
// was logged at ERROR as "engine operation failed".
func TestCallbackStopIsNotAnEngineFailure(t *testing.T) {
	engine := enginetest.Open(t)
	ctx := context.Background()
	lg, err := engine.Log(ctx, "CHANGES", natsstore.LogOptions{Subjects: []string{"chg.>"}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	m := observe.NewMetrics()
	l := observe.Log(lg, "CHANGES", m, slog.New(slog.NewJSONHandler(&out, nil)))
	for i := range 3 {
		if _, err := l.Append(ctx, "chg.t.a", []byte{byte('0' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("page full")
	if err := l.Read(ctx, []string{"chg.t.a"}, 1, 3, func(store.Record) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("read stopped by its callback: %v", err)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := l.Follow(fctx, []string{"chg.t.a"}, 1, func(store.Record) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("follow stopped by its callback: %v", err)
	}
	for _, op := range []string{"read", "follow"} {
		if n := gathered(t, m, "presenced_engine_errors_total", "bucket", "CHANGES", "op", op); n > 0 {
			t.Errorf("%v %s errors counted for a callback's stop", n, op)
		}
	}
	if out.Len() > 0 {
		t.Errorf("logged: %s", out.String())
	}
	// An engine failure still is one.
	if err := engine.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Read(ctx, []string{"chg.t.a"}, 1, 3, func(store.Record) error { return nil }); err == nil {
		t.Fatal("a read on a closed engine succeeded")
	}
	if n := gathered(t, m, "presenced_engine_errors_total", "bucket", "CHANGES", "op", "read"); n != 1 {
		t.Errorf("read errors = %v after a closed engine's, want 1", n)
	}
}
