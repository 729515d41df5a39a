package natsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/presenced/presenced/internal/benchenv"
)

// BenchmarkAckPath is what a write's engine round trip costs, and what
// gathering acknowledgements could save (issue #16 point 3,
// docs/performance.md): 64 writers at once through the in-process
// connection, as setPresence's benchmark sends them, each writer its own
// keys of 1,000; cpu-ns/op is the process's CPU per stored message (the
// engine runs in this process).
//
//   - update: natsstore's update (publish with the
//     expected-last-subject-sequence header, wait on a reply slot of its
//     own for its acknowledgement), on a single node through the raw
//     connection (rawconn.go) since session 6;
//
//   - update-sole: update of a sole writer (SoleWriter): the same message
//     without the revision header, so the engine checks nothing;
//
//   - raw: update-sole's message without nats.go — the NATS protocol on an
//     in-process connection of its own (rawPublisher, session 5's
//     measurement prototype, from which rawconn.go was made): the floor
//     of the raw connection, without its guard, bounds and slots;
//
//   - raw-pub: raw's publish, its answer to a natsstore reply slot (read
//     by nats.go): the publish's share of that cost;
//
//   - run: raw's message without a reply subject, the frames a writer
//     takes to the pipe at once sent as a run whose last frame alone asks
//     for an acknowledgement, with Nats-Expected-Last-Sequence: L+k−1
//     (runPublisher, ackrun_bench_test.go, session 12: a prototype, not
//     used by presenced); the runs' sizes are logged (-test.v);
//
//   - update-run: run's runs on natsstore's own raw connection, its slots,
//     its guard's waits and its answers' parse (runConn): what building it
//     would save against update-sole;
//
//   - update-nats: the same message through nats.go's RequestMsg (what
//     update did before its reply slots: the answer through nats.go's
//     wildcard subscription and its goroutine);
//
//   - request: nats.go's request without the revision header (so the
//     engine skips the subject's last-message lookup);
//
//   - publish: the same message with no reply subject: the engine stores
//     it and answers nothing, and the writer does not wait. Its difference
//     from request is everything an acknowledgement costs both sides —
//     building, routing and delivering it, nats.go's dispatch, the
//     writer's wake-up — the most any gathering of acknowledgements could
//     take off a write (the store, the parse and the revision check stay
//     per message);
//
//   - atomic: the writes waiting at one moment sent by one goroutine as a
//     JetStream atomic batch, one acknowledgement for the batch
//     (atomicBatcher, a prototype: not used by presenced);
//
//   - create: natsstore's Put with revision 0 of a key never written (a
//     user's first write), each write its own new key: on a single node
//     through the raw connection since session 10 (create in update.go);
//
//   - create-nats: the same create as before, through nats.go's
//     KeyValue.Create (its request inbox, its connection's lock, its
//     dispatch) under the guard: create's baseline.
//
//     go test -run '^$' -bench BenchmarkAckPath -benchtime 100000x -count 3 ./natsstore/
//
// PRESENCED_ACKPATH_KEYS sets how many keys the writers write in turn
// (default 1,000): the engine caches 512 subjects a connection and 1,024
// an account, so the subject's routing costs a write more above either.
func BenchmarkAckPath(b *testing.B) {
	const writers = 64
	keys := 1000
	keys = benchenv.Int("PRESENCED_ACKPATH_KEYS", keys, writers)
	for _, mode := range []string{"update", "update-sole", "raw", "raw-pub", "run", "update-run", "update-nats", "request", "publish", "atomic", "create", "create-nats"} {
		b.Run(mode, func(b *testing.B) {
			kv := bucketT(b, openT(b, Options{Dir: b.TempDir()}), "bench").(*kv)
			ctx := context.Background()
			names, revs := make([]string, keys), make([]uint64, keys)
			for i := range keys {
				names[i] = fmt.Sprintf("u.%s.%d", tenantA, i)
				r, err := kv.Put(ctx, names[i], benchValue, 0)
				if err != nil {
					b.Fatal(err)
				}
				revs[i] = r
			}
			if (mode == "update-sole" || mode == "update-run") && !SoleWriter(kv) {
				b.Fatal("SoleWriter refused the bucket")
			}
			var raw *rawPublisher
			var run *runPublisher
			if mode == "run" {
				run = newRunPublisher(b, kv, writers)
			}
			var rc *runConn
			if mode == "update-run" {
				rc = newRunConn(b, kv)
			}
			if mode == "raw" || mode == "raw-pub" {
				raw = newRawPublisher(b, kv, writers)
			}
			if mode == "raw-pub" {
				// The slots subscribed, and the subscriptions at the engine, before
				// any answer is sent to them from the other connection.
				slots := make([]*replySlot, writers)
				for i := range slots {
					slots[i], _ = kv.rep.get()
				}
				if err := kv.nc.Flush(); err != nil {
					b.Fatal(err)
				}
				for _, s := range slots {
					kv.rep.put(s)
				}
			}
			n := b.N
			var fresh []string // create's keys, one a write
			if mode == "create" || mode == "create-nats" {
				fresh = make([]string, n)
				for i := range fresh {
					fresh[i] = fmt.Sprintf("c.%s.%d", tenantA, i)
				}
			}
			var ab *atomicBatcher
			if mode == "atomic" {
				ab = startAtomicBatcher(b, kv)
				defer close(ab.in)
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					own := (keys - w + writers - 1) / writers // keys w, w+64, …: this writer's alone
					for i := w; i < n; i += writers {
						j := w + (i/writers%own)*writers
						var err error
						switch mode {
						case "update", "update-sole":
							revs[j], err = kv.Put(ctx, names[j], benchValue, revs[j])
						case "raw":
							revs[j] = raw.put(w, kv.prefix+names[j], benchValue)
						case "update-run":
							revs[j], err = rc.update(ctx, kv, names[j], benchValue)
						case "run":
							revs[j] = run.put(w, names[j], benchValue)
						case "raw-pub":
							slot, _ := kv.rep.get()
							raw.putReplyTo(kv.prefix+names[j], slot.subject, benchValue)
							resp := <-slot.ch
							kv.rep.put(slot)
							revs[j], err = parseAck(resp.Data, kv.stream)
						case "update-nats":
							revs[j], err = updateNATS(kv, names[j], revs[j])
						case "request":
							_, err = kv.nc.Request(kv.prefix+names[j], benchValue, publishTimeout)
						case "publish":
							err = kv.nc.Publish(kv.prefix+names[j], benchValue)
						case "atomic":
							revs[j], err = ab.put(names[j], revs[j])
						case "create":
							_, err = kv.Put(ctx, fresh[i], benchValue, 0)
						case "create-nats":
							err = kv.g.write(ctx, func(ctx context.Context) error {
								_, err := kv.kv.Create(ctx, fresh[i], benchValue)
								return err
							})
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			b.ResetTimer()
			c0 := processCPUTime()
			close(start)
			wg.Wait()
			// Messages of one connection reach the stream in order: this
			// one's acknowledgement says every message before it is stored.
			if _, err := kv.nc.RequestMsg(&nats.Msg{Subject: kv.prefix + names[0], Data: benchValue}, 30*time.Second); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64((processCPUTime()-c0).Nanoseconds())/float64(n), "cpu-ns/op")
			if run != nil {
				b.Logf("runs by size (1, 2, 3-4, 5-8, 9-16, 17-32, 33-64, 65+): %v; writes: %v", run.hist, run.histW)
			}
			if rc != nil {
				b.Logf("runs by size (1, 2, 3-4, 5-8, 9-16, 17-32, 33-64, 65+): %v; writes: %v", rc.hist, rc.histW)
			}
		})
	}
}

// processCPUTime is the process's user and system CPU time so far.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// atomicBatcher is the prototype the benchmark measures: writers hand
// their update to one goroutine, which sends the updates waiting at that
// moment as one JetStream atomic batch (the last message commits it and
// alone asks for an acknowledgement) and answers each writer once the
// batch's acknowledgement came. A batch's messages are stored one after
// the other, so the i-th of k has sequence seq-k+1+i.
type atomicBatcher struct{ in chan atomicReq }

type atomicReq struct {
	key    string
	expect uint64
	done   chan atomicRes
}

type atomicRes struct {
	rev uint64
	err error
}

func (a *atomicBatcher) put(key string, expect uint64) (uint64, error) {
	done := make(chan atomicRes, 1)
	a.in <- atomicReq{key, expect, done}
	r := <-done
	return r.rev, r.err
}

func startAtomicBatcher(b *testing.B, kv *kv) *atomicBatcher {
	s, err := kv.js.Stream(context.Background(), kv.stream)
	if err != nil {
		b.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.AllowAtomicPublish = true
	if _, err := kv.js.UpdateStream(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	a := &atomicBatcher{in: make(chan atomicReq, 1024)}
	go func() {
		id := 0
		for r := range a.in {
			batch := []atomicReq{r}
		gather:
			for len(batch) < 256 {
				select {
				case r, ok := <-a.in:
					if !ok {
						break gather
					}
					batch = append(batch, r)
				default:
					break gather
				}
			}
			id++
			bid := "b" + strconv.Itoa(id)
			var resp *nats.Msg
			var err error
			for i, r := range batch {
				m := nats.NewMsg(kv.prefix + r.key)
				m.Data = benchValue
				m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(r.expect, 10))
				m.Header.Set("Nats-Batch-Id", bid)
				m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
				if i < len(batch)-1 {
					if err = kv.nc.PublishMsg(m); err != nil {
						break
					}
					continue
				}
				m.Header.Set("Nats-Batch-Commit", "1")
				resp, err = kv.nc.RequestMsg(m, publishTimeout)
			}
			var ack struct {
				Seq   uint64              `json:"seq"`
				Count int                 `json:"count"`
				Error *jetstream.APIError `json:"error"`
			}
			if err == nil {
				if err = json.Unmarshal(resp.Data, &ack); err == nil && ack.Error != nil {
					err = ack.Error
				} else if err == nil && ack.Count != len(batch) {
					err = fmt.Errorf("batch of %d acknowledged as %d: %s", len(batch), ack.Count, resp.Data)
				}
			}
			for i, r := range batch {
				if err != nil {
					r.done <- atomicRes{err: err}
					continue
				}
				r.done <- atomicRes{rev: ack.Seq - uint64(len(batch)-1-i)}
			}
		}
	}()
	return a
}

// updateNATS is update's message sent and waited for by nats.go's
// RequestMsg, as update did before its reply slots.
func updateNATS(kv *kv, key string, expect uint64) (uint64, error) {
	m := nats.NewMsg(kv.prefix + key)
	m.Data = benchValue
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expect, 10))
	resp, err := kv.nc.RequestMsg(m, publishTimeout)
	if err != nil {
		return 0, err
	}
	return parseAck(resp.Data, kv.stream)
}
