package natsstore

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// defaultSyncInterval is nats-server's fsync period when Options leave it 0.
const defaultSyncInterval = 2 * time.Minute

// checkpointEvery is how often the manifest is brought up to date (a
// variable for tests).
var checkpointEvery = 10 * time.Second

// syncMargin is how long after its sync period the engine is assumed to
// have finished an fsync.
const syncMargin = 10 * time.Second

// manifestLag is how old a state must be before the manifest may vouch
// for it: the engine fsyncs a stream every sync interval (at every write
// with SyncAlways), and a power loss may take anything younger. A manifest
// that vouched for more would report that documented loss as damage.
func (o Options) manifestLag() time.Duration {
	if o.SyncAlways {
		return 0
	}
	if o.SyncInterval > 0 {
		return o.SyncInterval + syncMargin
	}
	return defaultSyncInterval + syncMargin
}

// KeepManifest writes m to path now, then keeps the manifest there up to
// date until Close: every checkpointEvery it records the streams as they
// were one manifestLag earlier, and Close records them as they are once
// every file is fsynced. A server calls it after its start-up Check found
// nothing (or the loss was accepted); never on a directory whose loss is
// still to be reported, or the next start would not see it.
//
// An error writing m is returned, but the checkpoints run all the same: a
// start on a full disk goes on, and the next checkpoint that fits writes.
//
// A cluster node's manifest records the cluster's streams (their leaders'
// state, Streams) and names the cluster; only the checkpoints, which lag
// by the sync interval, are written (the other nodes write on after this
// one closed, and what they hold is not fsynced by it).
func (e *Engine) KeepManifest(path string, m Manifest) error {
	e.manifest = path
	if e.opts.Cluster != nil {
		m.Cluster = e.opts.Cluster.Name
	}
	stopCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	// Stopping ends a checkpoint in progress too: in a cluster that is
	// losing its quorum, reading the streams would wait for leaders.
	e.stopCheckpoints = func() { stop(); <-done }
	every := checkpointEvery
	lag := int(e.opts.manifestLag() / every)
	if e.opts.manifestLag()%every != 0 {
		lag++
	}
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		// pending[i] is the state taken i ticks ago (0: this tick).
		var pending []Manifest
		for {
			select {
			case <-stopCtx.Done():
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(stopCtx, every)
			states, err := e.Streams(ctx)
			cancel()
			if err != nil {
				e.log.Debug("manifest checkpoint: reading the streams", "err", err)
				continue
			}
			cur := ManifestOf(states)
			cur.Cluster = m.Cluster
			pending = append([]Manifest{cur}, pending...)
			if len(pending) <= lag {
				continue
			}
			old := pending[lag]
			pending = pending[:lag]
			if err := WriteManifest(path, old); err != nil {
				// A full disk: the previous manifest stays, which is
				// only older.
				e.log.Debug("manifest checkpoint", "err", err)
			}
		}
	}()
	return WriteManifest(path, m)
}

// syncTree fsyncs every file and directory under dir. nats-server does not
// fsync its block files when it shuts down (fileStore.stop closes them
// without a sync; only the periodic sync does), so without this a clean
// shutdown followed by a power loss could lose the last sync interval of
// writes, and the final manifest could not vouch for them.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}
