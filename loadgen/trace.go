package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TraceRecord is one request of a run's trace (Config.Trace).
type TraceRecord struct {
	// Start is when the request was sent (or was due, with Config.Rate),
	// from the start of presenced's first round.
	Start time.Duration
	// Latency is how long it took, as the run's histograms count it.
	Latency time.Duration
	// Node is the index of the node it went through (Config.URL is 0,
	// Config.Nodes[i] is i+1); User the index in Config.Users, or -1 for
	// a getPresencesByUserId.
	Node, User int
	Op         Op
	// Status is the HTTP status, or 0 for a transport error.
	Status int
}

// traceHeader is the CSV header WriteTrace writes first.
const traceHeader = "start_us,latency_us,node,user,op,status\n"

// WriteTrace writes rs to w as CSV, oldest first: traceHeader, then a line
// a record, times in microseconds.
func WriteTrace(w io.Writer, rs []TraceRecord) error {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b TraceRecord) int { return int(a.Start - b.Start) })
	bw := bufio.NewWriter(w)
	bw.WriteString(traceHeader)
	var b []byte
	for _, r := range rs {
		b = strconv.AppendInt(b[:0], r.Start.Microseconds(), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, r.Latency.Microseconds(), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(r.Node), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(r.User), 10)
		b = append(b, ',')
		b = append(b, r.Op...)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(r.Status), 10)
		b = append(b, '\n')
		bw.Write(b)
	}
	return bw.Flush()
}

// ReadTrace reads what WriteTrace wrote.
func ReadTrace(r io.Reader) ([]TraceRecord, error) {
	sc := bufio.NewScanner(r)
	var rs []TraceRecord
	line := 0
	for sc.Scan() {
		line++
		t := sc.Text()
		if line == 1 {
			if t+"\n" != traceHeader {
				return nil, fmt.Errorf("trace: the first line is %q, not the header %q", t, traceHeader)
			}
			continue
		}
		f := strings.Split(t, ",")
		if len(f) != 6 {
			return nil, fmt.Errorf("trace line %d: %q: not 6 fields", line, t)
		}
		var n [5]int64
		for i, j := range []int{0, 1, 2, 3, 5} {
			v, err := strconv.ParseInt(f[j], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("trace line %d: %w", line, err)
			}
			n[i] = v
		}
		rs = append(rs, TraceRecord{Start: time.Duration(n[0]) * time.Microsecond, Latency: time.Duration(n[1]) * time.Microsecond,
			Node: int(n[2]), User: int(n[3]), Op: Op(f[4]), Status: int(n[4])})
	}
	return rs, sc.Err()
}
