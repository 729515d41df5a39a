package presenced

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/presenced/presenced/natsstore"
)

// ManifestFile is the engine's manifest in the data directory: per stream,
// what the engine held when that was surely on disk (natsstore.Manifest).
const ManifestFile = "engine-manifest.json"

// streamHolds says, for the log, what each of the engine's streams keeps.
var streamHolds = map[string]string{
	"KV_presence":      "every user's presence (sessions, preferred presence, status messages)",
	"KV_subscriptions": "webhook subscriptions and how far each was delivered",
	"KV_calendar":      "every user's calendar events and mailbox settings",
	"KV_meta":          "the dev clock's offset and the signing key's id",
	"KV_directory":     "the directory: tenants, users, applications and their credentials",
	"KV_oauth":         "sign-in codes and refresh tokens (losing them signs users out of browser apps)",
	"CHANGES":          "the change log (webhook notifications and stream resumption)",
}

// calendarStream is the calendar bucket's stream: when it lost data, every
// presence window is rebuilt from what remains (mailbox.Options.Rebuild).
const calendarStream = "KV_calendar"

// ErrDataLoss is what Start returns when the engine lost data it had on disk
// and the loss was not accepted (Config.AcceptDataLoss).
var ErrDataLoss = errors.New("the engine lost data it had on disk")

// ErrNoManifest is what Start returns when a single node's engine holds
// records but its manifest is gone, and going on without it was not
// accepted (Config.AcceptDataLoss).
var ErrNoManifest = errors.New("the engine's manifest is missing")

// checkEngine compares the engine's streams with the manifest, before any
// bucket is opened (opening one creates it if it is gone). Everything lost
// is logged at ERROR. A loss of records the manifest vouched for refuses the
// start unless accepted: no crash or power loss explains it, and an
// operator who can restore a backup wants to before new writes pile up. A
// loss of records written since the last checkpoint (the tail a power loss
// may take without --sync-always) is logged and the server starts.
func (s *Server) checkEngine(ctx context.Context) error {
	path := filepath.Join(s.cfg.DataDir, ManifestFile)
	m, found, merr := natsstore.ReadManifest(path)
	if errors.Is(merr, natsstore.ErrNewerManifest) {
		// Not damage: another format. Going on would run this version on
		// data it does not know, and --accept-data-loss would overwrite
		// the newer manifest with one of this version: refused either way.
		return fmt.Errorf("presenced: %w. Run that presenced (or a later one) on %s: a data directory is not taken back to an older version; to go back, restore a backup this version made", merr, s.cfg.DataDir)
	}
	if merr != nil {
		if !s.cfg.AcceptDataLoss {
			return fmt.Errorf("presenced: %w; the engine cannot be checked. Run `presenced check --data %s`, or start with --accept-data-loss to go on without the check (a new manifest is written)", merr, s.cfg.DataDir)
		}
		s.log.Error("the engine's manifest is unreadable; starting without the check, as --accept-data-loss asks", "file", path, "err", merr)
		m, found = natsstore.Manifest{}, false
	}
	states, err := s.engine.Streams(ctx)
	if err != nil {
		return fmt.Errorf("presenced: engine: %w", err)
	}
	rep := natsstore.Check(m, found, states)
	// No manifest but records in the engine: every start writes the
	// manifest before any stream exists, so it was deleted, or left out of
	// a restored backup. Nothing the engine lost (a cut or emptied block)
	// can be seen without it: refused like a damaged one. A cluster node's
	// data directory may be new while its cluster holds data (a replaced
	// disk): it catches up from its peers.
	if streams, records := rep.Unvouched(); streams > 0 && merr == nil && s.cfg.Cluster == nil {
		if !s.cfg.AcceptDataLoss {
			return fmt.Errorf("presenced: %w: the engine holds %d records in %d streams, but %s is not there, so what the engine lost cannot be known (was it deleted, or left out of a restored backup?). Put it back with the rest of the backup, or start with --accept-data-loss to go on without the check (a new manifest is written); `presenced check --data %s` reports what the engine's files hold (docs/durability.md)", ErrNoManifest, records, streams, path, s.cfg.DataDir)
		}
		s.log.Error("the engine's manifest is missing: starting without the check, as --accept-data-loss asks (a new manifest is written)", "file", path, "streams", streams, "records", records)
	}
	for _, r := range rep.Streams {
		if !r.Damaged() {
			continue
		}
		s.log.Error("engine data lost", "stream", r.Name, "holds", streamHolds[r.Name],
			"missing", r.Missing(), "lost_messages", r.LostMsgs, "lost_sequences", r.SeqBack,
			"dropped_messages", r.Dropped, "dropped_bytes", r.DroppedBytes, "on_disk_before", r.Durable(), "report", r.String())
	}
	// The saved cache may hold what the engine lost: it is not used.
	s.engineLost = rep.Damaged()
	s.lostStreams = map[string]bool{}
	first := map[string]uint64{}
	for _, r := range rep.Streams {
		if r.Damaged() {
			s.lostStreams[r.Name] = true
		}
		if r.Missing() && r.Recorded != nil {
			first[r.Name] = r.Recorded.LastSeq + 1
		}
	}
	if rep.Durable() {
		if !s.cfg.AcceptDataLoss {
			return fmt.Errorf("presenced: %w (the ERROR lines above say which streams and how much). Stop here and restore the data directory from a backup, or start with --accept-data-loss to run with what remains; `presenced check --data %s` reports without starting (docs/durability.md)", ErrDataLoss, s.cfg.DataDir)
		}
		s.log.Error("starting with what remains, as --accept-data-loss asks: the loss is recorded and will not be reported again")
		// A single node's only: a cluster node's missing stream may be one
		// its peers have not assigned it yet, and its replicas hold it.
		for _, r := range rep.Streams {
			if r.Missing() && s.cfg.Cluster == nil {
				if err := s.setAside(r.Name); err != nil {
					return fmt.Errorf("presenced: %w; move the stream's directory out of %s yourself to start without it", err, filepath.Join(s.cfg.DataDir, "engine"))
				}
			}
		}
		// A lost stream is created again numbered past the old one: its
		// revisions and sequences kept elsewhere (a presence window's
		// calendar revision, a subscription's delivered position, a
		// stream's resume token) must not be ahead of its new records.
		s.engine.StartPast(first)
	} else if rep.Damaged() {
		s.log.Error("the engine dropped records written since its last checkpoint (a power loss or a crash of the machine takes those without --sync-always); starting")
	}
	if err := s.engine.KeepManifest(path, m.Accept(states)); err != nil {
		// The old manifest stays: it vouches for no more than before,
		// though an accepted loss would be reported again.
		s.log.Warn("could not write the engine's manifest; retrying at the next checkpoint", "err", err)
	}
	return nil
}

// streamsDir is where the engine keeps its streams under a data directory:
// natsstore's store directory (jetstream), nats-server's own (jetstream
// again), the account ($G).
func streamsDir(data string) string {
	return filepath.Join(data, "engine", "jetstream", "jetstream", "$G", "streams")
}

// dropStreamIndexes removes every stream's index file (msgs/index.db) before
// the engine opens, so that it rebuilds each stream from its records,
// reading every checksum, as after a crash (and as presenced check does on
// its copy). Done when a loss is accepted: with its index, the engine trusts
// a block and finds a damaged record only when it reads it — a start then
// fails on it (the subscriptions are read whole at start) while the
// manifest, which counts what the index says, sees no loss to accept, so
// that --accept-data-loss could not start the server at all. Rebuilt, the
// engine cuts the block at the damage, the check counts what went, and the
// loss is accepted like any other. The index is derived data: nothing but
// the time of a rebuild is lost with it.
func (s *Server) dropStreamIndexes() error {
	dir := streamsDir(s.cfg.DataDir)
	streams, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	n := 0
	for _, st := range streams {
		err := os.Remove(filepath.Join(dir, st.Name(), "msgs", "index.db"))
		if err == nil {
			n++
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if n > 0 {
		s.log.Warn("--accept-data-loss: the engine rebuilds every stream from its records, reading each one, so that a damaged record is counted and its loss accepted (the start takes longer)", "streams", n)
	}
	return nil
}

// SetAsideDir is where, under the data directory, an accepted loss moves
// the files of a stream the engine could not open.
const SetAsideDir = "engine-set-aside"

// setAside moves the files of a stream the engine has not opened out of
// the engine's directory, so that the stream can be created again. A
// stream whose files nats-server cannot open at its start (a block it
// cannot read) is left on disk, unopened, since nats-server 2.15.3 (2.15.2
// deleted the stream's directory): creating it again there would fail on
// the same files. They are kept, for the operator, under SetAsideDir.
func (s *Server) setAside(stream string) error {
	dir := filepath.Join(streamsDir(s.cfg.DataDir), stream)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil // gone: created again from nothing
	} else if err != nil {
		return err
	}
	to := filepath.Join(s.cfg.DataDir, SetAsideDir, stream+"-"+s.cfg.Clock.Now().UTC().Format("20060102T150405.000000000Z"))
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return err
	}
	if err := os.Rename(dir, to); err != nil {
		return err
	}
	s.log.Error("the engine could not open a stream's files: they are set aside, and the stream is created again", "stream", stream, "files", to)
	return nil
}

// The temporary files of the saves into the data directory (the saved
// cache, the saved directory, the engine's manifest): atomicfile.Write
// names them so, and a start removes those a kill -9 left.
const (
	cacheTempPattern     = ".cache-*"
	directoryTempPattern = ".directory-*"
)

var savePatterns = []string{cacheTempPattern, directoryTempPattern, natsstore.ManifestTempPattern}
