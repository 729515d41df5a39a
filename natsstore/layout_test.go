package natsstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/natsstore"
)

func openDir(t *testing.T, dir string, o natsstore.Options) *natsstore.Engine {
	t.Helper()
	o.Dir = dir
	e, err := natsstore.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A single node's engine from before layouts were recorded (one presence
// bucket, no record) is one partition with one replica: it keeps its data,
// gets its record, and a start with another layout is refused.
func TestLayoutOfASingleNode(t *testing.T) {
	ctx := clusterCtx(t)
	dir := t.TempDir()

	// As an older presenced left it: the buckets, no layout record.
	e := openDir(t, dir, natsstore.Options{})
	for _, b := range []string{"presence", "meta"} {
		if _, err := e.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b, History: 1, Replicas: 1}); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := e.JetStream().KeyValue(ctx, "presence")
	if _, err := old.Put(ctx, "u.t.u", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	e.Close()

	e = openDir(t, dir, natsstore.Options{})
	l, err := e.Layout(ctx)
	if err != nil || l.Partitions != 1 || l.Replicas != 1 {
		t.Fatalf("layout of an older engine: %+v, %v", l, err)
	}
	kv, err := e.Partitioned(ctx, "presence")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := kv.Get(ctx, "u.t.u"); err != nil || string(got.Value) != "kept" {
		t.Fatalf("an older engine's user: %q, %v", got.Value, err)
	}
	e.Close()

	for _, tc := range []struct {
		name string
		o    natsstore.Options
		ok   bool
		want string
	}{
		{"the stored layout, said", natsstore.Options{Partitions: 1}, true, ""},
		{"the stored layout, taken", natsstore.Options{}, true, ""},
		{"other partitions: refused", natsstore.Options{Partitions: 4}, false, "created with 1 partition and 1 replica (recorded in its meta bucket); this node was started with 4 partitions and 1 replica"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := openDir(t, dir, tc.o)
			defer e.Close()
			_, err := e.Partitioned(ctx, "presence")
			var le *natsstore.LayoutError
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && (!errors.As(err, &le) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v; want a LayoutError saying %q", err, tc.want)
			}
			if !tc.ok {
				// Nothing else opens either: every bucket and log checks.
				if _, err := e.Bucket(ctx, "subscriptions"); !errors.As(err, &le) {
					t.Fatalf("a bucket of a refused layout: %v", err)
				}
			}
		})
	}
	if _, err := natsstore.Open(ctx, natsstore.Options{Dir: dir, Replicas: 3}); err == nil || !strings.Contains(err.Error(), "need a cluster") {
		t.Fatalf("3 replicas on a single node: %v", err)
	}
}

// A node started with another layout than its cluster's is refused, with
// what is stored; one started without saying takes the stored one.
func TestClusterLayoutMismatchIsRefused(t *testing.T) {
	c := startCluster(t, natsstore.Options{Partitions: 3})
	ctx := clusterCtx(t)
	if _, err := c.Node(0).Partitioned(ctx, "presence"); err != nil {
		t.Fatal(err)
	}
	c.Stop(2)
	for _, tc := range []struct {
		name   string
		change func(*natsstore.Options)
		want   string // "": accepted
	}{
		{"more partitions", func(o *natsstore.Options) { o.Partitions = 4 }, "created with 3 partitions and 3 replicas (recorded in its meta bucket); this node was started with 4 partitions and 3 replicas"},
		{"fewer replicas", func(o *natsstore.Options) { o.Partitions, o.Replicas = 3, 1 }, "this node was started with 3 partitions and 1 replica"},
		{"nothing said", func(o *natsstore.Options) { o.Partitions, o.Replicas = 0, 0 }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.RestartWith(2, tc.change); err != nil {
				t.Fatal(err)
			}
			defer c.Stop(2)
			_, err := c.Node(2).Partitioned(ctx, "presence")
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				l, _ := c.Node(2).Layout(ctx)
				if l.Partitions != 3 || l.Replicas != 3 {
					t.Fatalf("layout taken: %+v", l)
				}
				return
			}
			var le *natsstore.LayoutError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want a LayoutError saying %q", err, tc.want)
			}
		})
	}
}

// The nodes of a new cluster start together and each records the layout
// if there is none: they agree on the defaults, whichever creates the
// meta bucket first (another node finding that bucket without a record
// must not take the engine for an older single node's).
func TestClusterNodesStartingTogetherAgreeOnTheLayout(t *testing.T) {
	c := startCluster(t, natsstore.Options{})
	ctx := clusterCtx(t)
	// As when another node has just created the meta bucket and not yet
	// recorded the layout in it.
	createMeta := func() error {
		_, err := c.Node(0).JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsstore.MetaBucket, History: 1, Replicas: 3})
		return err
	}
	// The meta leader may not count every peer as online yet when the
	// nodes have just opened ("no suitable peers for placement"); the
	// engine waits that out itself, this direct request must too.
	for err := createMeta(); err != nil; err = createMeta() {
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10005 || ctx.Err() != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	layouts := make([]natsstore.Layout, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			if _, errs[i] = c.Node(i).Partitioned(ctx, "presence"); errs[i] == nil {
				layouts[i], errs[i] = c.Node(i).Layout(ctx)
			}
		})
	}
	wg.Wait()
	for i := range 3 {
		if errs[i] != nil || layouts[i].Partitions != natsstore.DefaultPartitions || layouts[i].Replicas != 3 {
			t.Errorf("node %d: layout %+v, %v; want %d partitions and 3 replicas", i, layouts[i], errs[i], natsstore.DefaultPartitions)
		}
	}
}

// Nodes starting together: one finds the meta bucket another created, reads
// no record yet, and by the time it lists the streams that node has
// recorded the layout and made its buckets. Those buckets are not an
// engine from before records: the node takes the record (it was refused
// as "1 partition stored" — a CI flake of the cluster tests).
func TestLayoutRecordedBetweenReadAndList(t *testing.T) {
	ctx := clusterCtx(t)
	e := openDir(t, t.TempDir(), natsstore.Options{Partitions: 3})
	defer e.Close()
	js := e.JetStream()
	meta, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsstore.MetaBucket, History: 1, Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	natsstore.AfterLayoutRead(t, func() {
		once.Do(func() { // what the other node does meanwhile
			if _, err := meta.Create(ctx, "engine.layout", []byte(`{"partitions":3,"replicas":1,"hash":"fnv1a64-jump"}`)); err != nil {
				t.Error(err)
			}
			if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "presence-0", History: 1, Replicas: 1}); err != nil {
				t.Error(err)
			}
		})
	})
	l, err := e.Layout(ctx)
	if err != nil || l.Partitions != 3 || l.Replicas != 1 {
		t.Fatalf("layout recorded between the read and the list: %+v, %v; want 3 partitions, 1 replica", l, err)
	}
}
