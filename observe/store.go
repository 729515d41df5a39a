package observe

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/observe/reqlog"
	"github.com/presenced/presenced/store"
)

// engineOp is one operation's instruments, resolved when the bucket is
// wrapped: a call then costs two clock reads and an observation.
type engineOp struct {
	name     string
	duration prometheus.Observer // nil without metrics
	errors   prometheus.Counter
}

// engine is what the KV and Log decorators share: the bucket's name, its
// conflict counter and the logger of its failures.
type engine struct {
	bucket    string
	conflicts prometheus.Counter
	log       *slog.Logger
}

func (e *engine) op(m *Metrics, name string) engineOp {
	o := engineOp{name: name}
	if m != nil {
		o.duration = m.engineDuration.WithLabelValues(e.bucket, name)
		o.errors = m.engineErrors.WithLabelValues(e.bucket, name)
	}
	return o
}

// start stamps an operation's beginning: the machine's monotonic clock,
// whatever the server's clock says (clock.Stamp: half a wall-clock read).
func start() clock.Stamp { return clock.Mono() }

// done records an operation that started at t0 and ended with err. A key
// not found and a revision conflict are answers, not failures; a failure
// is counted and logged with the request's fields (reqlog), unless the
// caller gave up (its context ended).
func (e *engine) done(ctx context.Context, o *engineOp, t0 clock.Stamp, err error) {
	if o.duration != nil {
		o.duration.Observe(t0.Elapsed().Seconds())
	}
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return
	}
	if errors.Is(err, store.ErrConflict) {
		if e.conflicts != nil {
			e.conflicts.Inc()
		}
		return
	}
	if ctx.Err() != nil {
		return
	}
	if o.errors != nil {
		o.errors.Inc()
	}
	if e.log != nil {
		attrs := reqlog.Attrs(ctx, make([]slog.Attr, 0, 9))
		attrs = append(attrs, slog.String("bucket", e.bucket), slog.String("op", o.name), slog.String("err", err.Error()))
		e.log.LogAttrs(ctx, slog.LevelError, "engine operation failed", attrs...)
	}
}

func newEngine(m *Metrics, bucket string, log *slog.Logger) engine {
	e := engine{bucket: bucket, log: log}
	if m != nil {
		e.conflicts = m.engineConflicts.WithLabelValues(bucket)
	}
	return e
}

// KV wraps a bucket with its latency, conflict and error metrics and the
// log lines of its failures. It embeds the bucket, so a method the engine
// adds to store.KV passes through unmeasured rather than breaking the build.
func KV(kv store.KV, bucket string, m *Metrics, log *slog.Logger) store.KV {
	k := &measuredKV{KV: kv, engine: newEngine(m, bucket, log)}
	k.get, k.getMany, k.put = k.op(m, "get"), k.op(m, "get_many"), k.op(m, "put")
	k.delete, k.keys, k.walk = k.op(m, "delete"), k.op(m, "keys"), k.op(m, "walk")
	return k
}

type measuredKV struct {
	store.KV
	engine
	get, getMany, put, delete, keys, walk engineOp
}

func (k *measuredKV) Get(ctx context.Context, key string) (store.Entry, error) {
	t0 := start()
	e, err := k.KV.Get(ctx, key)
	k.done(ctx, &k.get, t0, err)
	return e, err
}

func (k *measuredKV) GetMany(ctx context.Context, keys []string) ([]store.Entry, error) {
	t0 := start()
	es, err := k.KV.GetMany(ctx, keys)
	k.done(ctx, &k.getMany, t0, err)
	return es, err
}

func (k *measuredKV) Put(ctx context.Context, key string, value []byte, expect uint64) (uint64, error) {
	t0 := start()
	rev, err := k.KV.Put(ctx, key, value, expect)
	k.done(ctx, &k.put, t0, err)
	return rev, err
}

func (k *measuredKV) Delete(ctx context.Context, key string, expect uint64) error {
	t0 := start()
	err := k.KV.Delete(ctx, key, expect)
	k.done(ctx, &k.delete, t0, err)
	return err
}

func (k *measuredKV) Keys(ctx context.Context, prefix string) ([]string, error) {
	t0 := start()
	ks, err := k.KV.Keys(ctx, prefix)
	k.done(ctx, &k.keys, t0, err)
	return ks, err
}

func (k *measuredKV) Walk(ctx context.Context, prefix string, fn func(store.Entry) error) error {
	t0 := start()
	err := k.KV.Walk(ctx, prefix, fn)
	k.done(ctx, &k.walk, t0, err)
	return err
}

// Log wraps a change log as KV wraps a bucket. Follow runs for the
// server's life: only its failures are counted, not its duration.
func Log(l store.Log, name string, m *Metrics, log *slog.Logger) store.Log {
	w := &measuredLog{Log: l, engine: newEngine(m, name, log)}
	w.append, w.last, w.lastSeq, w.firstSeq = w.op(m, "append"), w.op(m, "last"), w.op(m, "last_seq"), w.op(m, "first_seq")
	w.read, w.follow, w.lastMany = w.op(m, "read"), w.op(m, "follow"), w.op(m, "last_many")
	w.follow.duration = nil
	return w
}

type measuredLog struct {
	store.Log
	engine
	append, last, lastSeq, firstSeq, read, follow, lastMany engineOp
}

func (l *measuredLog) Append(ctx context.Context, subject string, data []byte) (uint64, error) {
	t0 := start()
	seq, err := l.Log.Append(ctx, subject, data)
	l.done(ctx, &l.append, t0, err)
	return seq, err
}

// AppendAfter counts as an append; a conflict (another node logged the
// change first) is counted as a revision conflict, as for a bucket.
func (l *measuredLog) AppendAfter(ctx context.Context, subject string, last uint64, data []byte) (uint64, error) {
	t0 := start()
	seq, err := l.Log.AppendAfter(ctx, subject, last, data)
	l.done(ctx, &l.append, t0, err)
	return seq, err
}

func (l *measuredLog) LastMany(ctx context.Context, subjects []string, upTo uint64) ([]store.Record, error) {
	t0 := start()
	rs, err := l.Log.LastMany(ctx, subjects, upTo)
	l.done(ctx, &l.lastMany, t0, err)
	return rs, err
}

func (l *measuredLog) Last(ctx context.Context, subject string) (store.Record, error) {
	t0 := start()
	r, err := l.Log.Last(ctx, subject)
	l.done(ctx, &l.last, t0, err)
	return r, err
}

func (l *measuredLog) LastSeq(ctx context.Context) (uint64, error) {
	t0 := start()
	seq, err := l.Log.LastSeq(ctx)
	l.done(ctx, &l.lastSeq, t0, err)
	return seq, err
}

func (l *measuredLog) FirstSeq(ctx context.Context) (uint64, error) {
	t0 := start()
	seq, err := l.Log.FirstSeq(ctx)
	l.done(ctx, &l.firstSeq, t0, err)
	return seq, err
}

// Read and Follow end with the error of the caller's callback when it
// returns one: the caller stopping the read (a page full, a reader gone),
// not an engine failure. Only the engine's errors are counted and logged.
func (l *measuredLog) Read(ctx context.Context, subjects []string, from, to uint64, fn func(store.Record) error) error {
	t0 := start()
	cb := callback{fn: fn}
	err := l.Log.Read(ctx, subjects, from, to, cb.call)
	l.done(ctx, &l.read, t0, cb.engineErr(err))
	return err
}

func (l *measuredLog) Follow(ctx context.Context, subjects []string, from uint64, fn func(store.Record) error) error {
	t0 := start()
	cb := callback{fn: fn}
	err := l.Log.Follow(ctx, subjects, from, cb.call)
	l.done(ctx, &l.follow, t0, cb.engineErr(err))
	return err
}

// callback remembers the error its fn returned.
type callback struct {
	fn  func(store.Record) error
	err error
}

func (c *callback) call(r store.Record) error {
	c.err = c.fn(r)
	return c.err
}

// engineErr is err unless it is (or wraps) the callback's own error.
func (c *callback) engineErr(err error) error {
	if err != nil && c.err != nil && errors.Is(err, c.err) {
		return nil
	}
	return err
}
