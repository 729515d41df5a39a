package natsstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/internal/freeport"
	"github.com/presenced/presenced/natsstore"
)

// A fourth node started with the name of a running one (an operator's
// copy-paste) does not start: JetStream knows a peer by its name, so it
// would vote in the streams' elections as that node, with none of its
// data. Its start stops within seconds, saying which name is taken; before,
// it waited for the cluster (joining its meta group meanwhile, the running
// node's stream groups stepping down) with nothing but nats-server's
// "Remote server has a duplicate name" in its log.
func TestClusterNodeNamedLikeAnother(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	c := enginetest.StartCluster(t, 3, natsstore.Options{Replicas: 3})
	for i := range c.Len() { // started, as a presenced node's start ends
		if err := c.Node(i).Serving(); err != nil {
			t.Fatal(err)
		}
	}
	o := c.Options(1)
	cl := *o.Cluster
	listen := fmt.Sprintf("127.0.0.1:%d", freeport.Ports(t, 1)[0])
	cl.Listen = listen
	cl.Routes = append(append([]string(nil), cl.Routes...), "nats://"+listen)
	o.Cluster = &cl
	o.Dir = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	e, err := natsstore.Open(ctx, o)
	if err == nil {
		// Open may beat the news of the other one: the node's start
		// ends by asking again.
		err = e.Serving()
		_ = e.Close()
	}
	var dup *natsstore.DuplicateNameError
	if !errors.As(err, &dup) {
		t.Fatalf("a node named like a running one (%s) started: %v", o.ServerName, err)
	}
	if dup.Name != o.ServerName || !strings.Contains(err.Error(), `already named "`+o.ServerName+`"`) || !strings.Contains(err.Error(), "--node-name") {
		t.Fatalf("the refusal does not say which name is taken and what to do: %v", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("refused after %v", took)
	}
	// The running node of that name is not bothered: its start is over.
	if err := c.Node(1).Serving(); err != nil {
		t.Fatalf("the running node: %v", err)
	}
}
