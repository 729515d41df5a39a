// Package natsstore is presenced's engine: an embedded nats-server with
// JetStream, file storage under the data directory, replicas 1, reached
// in-process (no port, nothing to install) — or, in cluster mode, a node
// of a NATS cluster or a connection to one (see "Cluster mode" below).
// Each store.KV is a JetStream KV bucket with History 1; a key's revision
// is the stream sequence of its last write, so revisions only grow, across
// restarts too.
//
// # Semantics
//
// Put with expect 0 creates, and succeeds over a deleted or purged key:
// deleted is absent. Any other expect must equal the key's current revision;
// such a Put is published by this package (update.go: the message nats.go's
// KeyValue.Update sends) and waits at most 5 s for the acknowledgement, even
// if its context ends after it was sent.
// JetStream's "wrong last sequence" (API error 10071, 10164 on replicated
// streams) becomes store.ErrConflict, still wrapping the engine's error.
// Keys returns live keys sorted; a prefix ending on a token boundary ("u.",
// "u.<tenant>.") is pushed down to the engine as a subject filter.
// GetMany reads up to 1,024 keys per request with JetStream's batched
// direct get (getmany.go), each request a snapshot of the bucket; Get and
// GetMany both use direct gets, which a replicated stream may answer from
// a follower. A direct get may draw a replica on a frozen node (SIGSTOP)
// that answers nothing until nats-server's ping timeout: a cluster's
// Log.Last asks the leader after 1 s (directTry), and a batched one is
// sent again. Walk streams the live keys under a prefix, each at its last
// revision, in stream order, through one ordered consumer (walk.go).
//
// # Durability: the default, and what it can lose
//
// By default (SyncAlways false) a write is acknowledged after nats-server
// has written it to the stream's block file with write(2), but before any
// fsync; fsync runs every SyncInterval (nats default 2m), and Close fsyncs
// every file of the store itself (nats-server's shutdown does not). For
// an R1 file stream the write happens before the ack: the file store's
// AsyncFlush is only turned on for replicated streams (server/stream.go,
// fsCfg.AsyncFlush = !SyncAlways && Replicas > 1), so writeMsgRecord flushes
// in place (fs.fip) with flushPendingMsgsLocked before returning.
//
//   - kill -9 or a crash of the process loses nothing acknowledged: the data
//     is in the kernel's page cache and the kernel writes it out.
//     TestKillDurability proves it: a child process writes from 4
//     goroutines and prints each ack, is SIGKILLed after 3000-4500 acks,
//     and every acknowledged key and revision is there when the parent
//     reopens the directory (three rounds each, default and SyncAlways). The
//     same test fails on every key when the child uses memory storage, so it
//     can see loss.
//   - Power loss or a kernel crash can lose writes acknowledged since the
//     last fsync: up to SyncInterval of them (2m by default) unless
//     SyncAlways. Lower SyncInterval to narrow that window cheaply.
//
// SyncAlways fsyncs every write before the ack. Measured with
// BenchmarkPut/Update/Get on the 2-core development VM (ext4 on virtio)
// while other builds ran (load 2-6; docs/architecture quotes ~18 µs put on a
// quiet machine), one operation at a time through the in-process connection,
// ranges over two runs of -count 3:
//
//	                     default (no fsync)   SyncAlways
//	Put, new key         45-80 µs             0.37-1.5 ms
//	Put, update          54-93 µs             0.37-1.3 ms
//	Get                  50-78 µs             (reads do not sync)
//
// Memory storage measured the same as the default file storage (43-93 µs
// put, 40-87 µs get): without SyncAlways the disk is not the bottleneck.
// SyncAlways costs roughly 0.3-1.4 ms more per write (7-25x), bounded by the
// disk's fsync latency; each write pays its own fsync.
//
// The default stays off: a process crash loses nothing acknowledged, and the
// power-loss window is SyncInterval. Deployments that must survive power
// loss turn SyncAlways on, or run a cluster with replicas 3, where an ack
// means a quorum of nodes has written the message.
//
// # Cluster mode
//
// With Options.Cluster the embedded server is a node of a NATS cluster (it
// listens: DontListen prevents clustering); with Options.External the
// engine connects to an operator's NATS instead. After connecting both are
// the same (docs/design.md, "Cluster mode"): every bucket and log at the
// layout's replicas (layout.go), users spread over partitions
// (partition.go), writes and leader reads that wait for a leader and are
// sent again only when safe (exchange.go, leader.go), Get from the leader,
// Watch (watch.go), Log.AppendAfter, leases (lease.go), a graceful stop
// that hands leaderships over (cluster.go). Replicated file streams turn
// AsyncFlush on: a single node's kill can lose its buffered writes, which
// the quorum covers (TestClusterKillNine).
package natsstore
