package natsstore

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/store"
)

// A dropped raw slot (its writer stopped waiting) receives nothing more
// and is never handed out again: a late answer cannot reach another write.
func TestDroppedRawSlot(t *testing.T) {
	ctx := ctxT(t)
	b := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence").(*kv)
	c := b.e.raw
	s := c.get()
	c.drop(s)
	if err := b.nc.Publish(s.reply, []byte("late")); err != nil {
		t.Fatal(err)
	}
	if err := b.nc.Flush(); err != nil { // the server has routed it to the raw connection
		t.Fatal(err)
	}
	// A write through the raw connection after it: its answer comes after
	// the late one on the same connection, so the reader has passed it.
	rev, err := b.Put(ctx, ukey(tenantA, user1), []byte("one"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.update(ctx, ukey(tenantA, user1), []byte("two"), rev, true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.ch:
		t.Fatalf("a dropped slot received %q", s.ans.data())
	default:
	}
	if n := c.get(); n == s || n.reply == s.reply {
		t.Fatalf("a dropped slot was handed out again: %s", n.reply)
	}
}

// When the raw connection fails, writes go on through nats.go, answered
// as before; a write sent on the failed connection reports the engine
// unavailable.
func TestRawConnectionFailureFallsBack(t *testing.T) {
	ctx := ctxT(t)
	b := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence").(*kv)
	k := ukey(tenantA, user1)
	r1, err := b.Put(ctx, k, []byte("one"), 0)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := b.Put(ctx, k, []byte("two"), r1)
	if err != nil {
		t.Fatal(err)
	}
	if made := slotsMade(b, "raw"); made != 1 {
		t.Fatalf("a write through the raw connection made %d slots", made)
	}
	c := b.e.raw
	c.fail(errors.New("test"))
	w := b.startWait(false, publishTimeout)
	defer w.stop()
	if _, err := b.updateRaw(c, k, []byte("lost"), r2, true, &w); !errors.Is(unavailable(err), store.ErrUnavailable) {
		t.Fatalf("a write on the failed connection: %v, want the engine unavailable", err)
	}
	r3, err := b.Put(ctx, k, []byte("three"), r2)
	if err != nil {
		t.Fatalf("a write after the raw connection failed: %v", err)
	}
	if e, err := b.Get(ctx, k); err != nil || e.Revision != r3 || string(e.Value) != "three" {
		t.Fatalf("after the fallback write: %+v, %v (answered %d)", e, err, r3)
	}
	if made := slotsMade(b, "nats.go"); made != 1 {
		t.Fatalf("the fallback write made %d nats.go slots", made)
	}
}

// The raw connection answers the server's PINGs: a server that pings
// every 20 ms (and closes a connection after two unanswered) still
// answers it after many pings.
func TestRawConnectionAnswersPings(t *testing.T) {
	srv, err := server.NewServer(&server.Options{DontListen: true, NoSigs: true, PingInterval: 20 * time.Millisecond, MaxPingsOut: 2})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	c, err := rawConnect(srv, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	s := c.get()
	for range 10 { // 200 ms: ten pings
		time.Sleep(20 * time.Millisecond)
		if !c.usable() {
			t.Fatalf("the connection ended: %v", c.err())
		}
	}
	// Still served: a publish nobody takes is answered "no responders".
	if err := c.send(appendPub(nil, "nobody.", "here", s.reply, []byte("x"), 0, false)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.ch:
		if !s.ans.noResponders {
			t.Fatalf("answer %q, want no responders", s.ans.data())
		}
	case <-c.done:
		t.Fatalf("the connection ended: %v", c.err())
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
}

// A write waits on the guard's generation taken before it is sent: when
// the engine fails writes (a full disk, a write error) after this one
// passed the guard's check, the write ends at once with that failure even
// if the guard has begun a new generation before the writer looks. Taken
// after the send, the write waited on the new generation: a write the
// engine never answers waited out its timeout (CI, 2026-12-03: 4.1 s in
// TestFullDiskFailsWritesFastAndRecovers). Here the engine does answer, so
// without the order the write succeeds.
func TestWaitTakenBeforeTheSend(t *testing.T) {
	ctx := ctxT(t)
	b := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence").(*kv)
	if b.g == nil || !b.e.raw.usable() {
		t.Fatal("the engine has no guard or no raw connection")
	}
	k := ukey(tenantA, user1)
	rev, err := b.Put(ctx, k, []byte("one"), 0) // a create: not through update
	if err != nil {
		t.Fatal(err)
	}
	afterCheck = func(b *kv) {
		b.g.engineLogged("test: critical write error on the stream's files")
		b.g.rotate() // the guard's new generation, before the send
	}
	t.Cleanup(func() { afterCheck = nil })
	// Without a deadline: a write with one waits on a timer of its own.
	_, err = b.Put(context.Background(), k, []byte("two"), rev)
	if !errors.Is(err, errStopped) {
		t.Fatalf("a write sent as the engine failed writes: %v, want %v", err, errStopped)
	}
}

// deadlineConn records the write deadlines set on it.
type deadlineConn struct {
	net.Conn
	set []time.Time
}

func (d *deadlineConn) SetWriteDeadline(t time.Time) error { d.set = append(d.set, t); return nil }
func (d *deadlineConn) Write(p []byte) (int, error)        { return len(p), nil }

// The pipe's write deadline is publishTimeout ahead of the wall clock when
// set, set by the first write, and not set again by the writes that follow
// while more than half of it is left (the write's check reads a monotonic
// stamp, the wall clock only to set it).
func TestRawWriteDeadline(t *testing.T) {
	d := &deadlineConn{}
	c := &rawConn{conn: d}
	before := clock.Real{}.Now()
	for range 3 {
		if err := c.write([]byte("PING\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	after := clock.Real{}.Now()
	if len(d.set) != 1 {
		t.Fatalf("deadlines set by 3 writes in a row: %v, want 1", d.set)
	}
	if got := d.set[0]; got.Before(before.Add(publishTimeout)) || got.After(after.Add(publishTimeout)) {
		t.Fatalf("deadline %v, want publishTimeout after the write (%v … %v)", got, before.Add(publishTimeout), after.Add(publishTimeout))
	}
	// Half of it gone: the next write moves it.
	c.renew -= clock.Stamp(publishTimeout)
	if err := c.write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	if len(d.set) != 2 || !d.set[1].After(d.set[0].Add(-time.Second)) {
		t.Fatalf("deadlines %v: want a second one, publishTimeout ahead again", d.set)
	}
}

// protoNumber reads what strconv reads from the numbers the server writes,
// and refuses signs, spaces and what would not fit.
func TestProtoNumber(t *testing.T) {
	for _, s := range []string{"0", "7", "42", "007", "1048576", "999999999999999999"} {
		want, _ := strconv.Atoi(s)
		if got, ok := protoNumber([]byte(s)); !ok || got != want {
			t.Errorf("protoNumber(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "-1", "+1", " 1", "1 ", "1x", "0x10", "1e3", "1000000000000000000"} {
		if got, ok := protoNumber([]byte(s)); ok {
			t.Errorf("protoNumber(%q) = %d, want refused", s, got)
		}
	}
}

// A write under way when the engine meets a full disk fails with the others
// in flight, though the engine may store it — here it does. Its error says
// so (store.ErrMaybeStored beside store.ErrFull), so that the API does not
// tell the client "nothing was written" of a write it will read back; a
// write refused before it is sent is ErrFull alone. Before, both were
// ErrFull alone (seen operating the binary on a filling tmpfs: a
// setStatusMessage answered "The server's storage is full: nothing was
// written" was there after the restart).
func TestWriteInFlightAsTheDiskFillsMayHaveBeenStored(t *testing.T) {
	ctx := ctxT(t)
	b := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence").(*kv)
	if b.g == nil || !b.e.raw.usable() {
		t.Fatal("the engine has no guard or no raw connection")
	}
	k := ukey(tenantA, user1)
	rev, err := b.Put(ctx, k, []byte("one"), 0)
	if err != nil {
		t.Fatal(err)
	}
	afterCheck = func(b *kv) {
		b.g.engineLogged("test: Critical write error: write /x/1.blk: no space left on device")
		b.g.rotate()
	}
	t.Cleanup(func() { afterCheck = nil })
	for _, c := range []struct {
		name       string
		value      string
		maybe      bool   // the error says the write may have been stored
		stored     string // what the engine holds after it
		afterCheck bool
	}{
		{"under way as the disk filled", "two", true, "two", true},
		{"refused before it was sent", "three", false, "two", false},
	} {
		if !c.afterCheck {
			afterCheck = nil
		}
		_, err := b.Put(context.Background(), k, []byte(c.value), rev)
		if !errors.Is(err, store.ErrFull) || errors.Is(err, store.ErrMaybeStored) != c.maybe {
			t.Errorf("%s: %v; want ErrFull, ErrMaybeStored %v", c.name, err, c.maybe)
		}
		got, err := b.Get(ctx, k)
		if err != nil || string(got.Value) != c.stored {
			t.Errorf("%s: the engine holds %q %v, want %q", c.name, got.Value, err, c.stored)
		}
		rev = got.Revision
	}
}
