package clusterproof_test

import (
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/nodetest"
	"github.com/presenced/presenced/loadgen"
	"github.com/presenced/presenced/natsstore"
)

// splitPaths puts a write on the "leads" path when the node it went
// through leads its user's partition, on the hop path otherwise, leaves
// out reads and failures, and splits nothing when a leader moved.
func TestSplitPaths(t *testing.T) {
	const parts = 3
	nodes := []*nodetest.Node{{Name: "n0"}, {Name: "n1"}, {Name: "n2"}}
	leaders := []string{"n0", "n1", "n2"} // partition i led by node i
	partOf := func(user int) int {
		return natsstore.PartitionOf("u."+directory.DemoTenantID+"."+directory.DemoUserID(user+1), parts)
	}
	ms := time.Millisecond
	var rs []loadgen.TraceRecord
	var wantLeads, wantHop int
	for u := range 30 {
		p := partOf(u)
		// Through the leader: 1 ms; through the next node: 3 ms.
		rs = append(rs,
			loadgen.TraceRecord{Start: time.Duration(u) * 20 * ms, Latency: ms, Node: p, User: u, Op: loadgen.OpSet, Status: 200},
			loadgen.TraceRecord{Start: time.Duration(u)*20*ms + ms, Latency: 3 * ms, Node: (p + 1) % 3, User: u, Op: loadgen.OpSet, Status: 200},
			loadgen.TraceRecord{Start: time.Duration(u)*20*ms + 2*ms, Latency: 50 * ms, Node: p, User: u, Op: loadgen.OpGet, Status: 200},
			loadgen.TraceRecord{Start: time.Duration(u)*20*ms + 3*ms, Latency: 50 * ms, Node: p, User: u, Op: loadgen.OpSet, Status: 503})
		wantLeads++
		wantHop++
	}
	sp := splitPaths(rs, nodes, parts, leaders, leaders)
	if sp.moved || sp.leads.n != wantLeads || sp.hop.n != wantHop || sp.all.n != wantLeads+wantHop {
		t.Fatalf("split %d leads, %d hop, %d all (moved %v); want %d, %d, %d", sp.leads.n, sp.hop.n, sp.all.n, sp.moved, wantLeads, wantHop, wantLeads+wantHop)
	}
	if sp.leads.mean != ms || sp.hop.mean != 3*ms || sp.leads.p99 != ms || sp.hop.p99 != 3*ms {
		t.Fatalf("leads %v, hop %v: want 1 ms and 3 ms", sp.leads, sp.hop)
	}
	// With the hop's 2 ms taken off every write takes 1 ms: p99/mean 1.
	if sp.evenK != 1 {
		t.Fatalf("p99/mean with the paths' means equal %.2f, want 1", sp.evenK)
	}
	if sp.clustered != 0 {
		t.Fatalf("slow writes spread out, %v in bursts", sp.clustered)
	}
	moved := []string{"n1", "n1", "n2"}
	if sp := splitPaths(rs, nodes, parts, leaders, moved); !sp.moved || sp.all.n != 0 {
		t.Fatalf("a leader moved: %+v, want not split", sp)
	}
}

// The slow writes that start together are counted as a burst, with the
// share of its most common leader and taker.
func TestSplitPathsBursts(t *testing.T) {
	nodes := []*nodetest.Node{{Name: "n0"}}
	leaders := []string{"n0"}
	var rs []loadgen.TraceRecord
	for i := range 1000 {
		rs = append(rs, loadgen.TraceRecord{Start: time.Duration(i) * time.Millisecond, Latency: time.Millisecond, User: i % 10, Op: loadgen.OpSet, Status: 200})
	}
	// 8 writes slower than the p99, all started within 10 ms.
	for i := range 8 {
		rs[500+i].Latency = 40 * time.Millisecond
	}
	sp := splitPaths(rs, nodes, 1, leaders, leaders)
	if sp.clustered != 1 || sp.burstLeader != 1 || sp.burstTaker != 1 {
		t.Fatalf("in bursts %.2f, one leader's share %.2f, one taker's %.2f; want 1, 1, 1", sp.clustered, sp.burstLeader, sp.burstTaker)
	}
}
