package natsstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/presenced/presenced/internal/atomicfile"
)

// Manifest records, per stream, what the engine held at an instant when
// that was surely on disk. The engine's own recovery drops what it cannot
// read without failing (a damaged block is truncated at the first bad
// record; an emptied block or a deleted stream directory is simply not
// there), so a start compares what it finds with the manifest: less than
// the manifest vouches for is lost data, never an effect of a crash
// (docs/durability.md).
type Manifest struct {
	// Cluster names the cluster of a cluster node's engine ("" for a
	// single node): its streams are the cluster's, and the manifest
	// records what the cluster held.
	Cluster string              `json:"cluster,omitempty"`
	Streams map[string]Recorded `json:"streams"`
}

// Recorded is one stream's entry in a Manifest.
type Recorded struct {
	Msgs    uint64 `json:"messages"`
	Bytes   uint64 `json:"bytes"`
	LastSeq uint64 `json:"last_seq"`
	Limited bool   `json:"limited,omitempty"`
}

// manifestVersion is the file's format; a reader refuses another.
const manifestVersion = 1

// ErrNewerManifest is ReadManifest's error for a manifest of a later
// format than this version reads: the data directory was written by a newer
// presenced, and nothing of it can be vouched for by this one.
var ErrNewerManifest = errors.New("written by a newer presenced")

type manifestFile struct {
	Version int `json:"version"`
	Manifest
}

// ManifestOf is the manifest of the given states.
func ManifestOf(states []StreamState) Manifest {
	m := Manifest{Streams: make(map[string]Recorded, len(states))}
	for _, s := range states {
		m.Streams[s.Name] = Recorded{Msgs: s.Msgs, Bytes: s.Bytes, LastSeq: s.LastSeq, Limited: s.Limited}
	}
	return m
}

// ReadManifest reads the manifest at path; found is false when there is
// none (a new data directory, or one from before manifests).
func ReadManifest(path string) (m Manifest, found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Manifest{}, false, nil
	}
	if err != nil {
		return Manifest{}, false, fmt.Errorf("natsstore: read manifest: %w", err)
	}
	var f manifestFile
	if err := json.Unmarshal(b, &f); err != nil {
		return Manifest{}, true, fmt.Errorf("natsstore: manifest %s is damaged: %w", path, err)
	}
	if f.Version > manifestVersion {
		return Manifest{}, true, fmt.Errorf("natsstore: manifest %s has version %d, %w; this one reads version %d", path, f.Version, ErrNewerManifest, manifestVersion)
	}
	if f.Version != manifestVersion {
		return Manifest{}, true, fmt.Errorf("natsstore: manifest %s has version %d; this presenced reads version %d", path, f.Version, manifestVersion)
	}
	if f.Streams == nil {
		f.Streams = map[string]Recorded{}
	}
	return f.Manifest, true, nil
}

// WriteManifest replaces the manifest at path atomically and durably: a
// crash leaves the old one or the new one, never a mix.
// ManifestTempPattern names WriteManifest's temporary file beside the
// manifest (for atomicfile.RemoveLeftovers).
const ManifestTempPattern = ".manifest-*"

func WriteManifest(path string, m Manifest) error {
	b, err := json.MarshalIndent(manifestFile{Version: manifestVersion, Manifest: m}, "", "  ")
	if err != nil {
		return err
	}
	err = atomicfile.Write(path, ManifestTempPattern, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("natsstore: write manifest: %w", err)
	}
	return nil
}

// Report is the comparison of an engine's streams with its manifest.
type Report struct {
	// Manifest reports whether there was a manifest to compare with;
	// without one only what the engine itself reports dropping is known.
	Manifest bool
	Streams  []StreamReport
}

// StreamReport is one stream's part of a Report.
type StreamReport struct {
	Name     string
	Recorded *Recorded    // nil: not in the manifest (new since it was written)
	State    *StreamState // nil: the engine does not have the stream

	// LostMsgs is how many records the manifest vouches for that are gone
	// (for a limited stream, whose count falls on its own, 0: SeqBack says
	// how many at most).
	LostMsgs uint64
	// SeqBack is how far the stream's last sequence went back.
	SeqBack uint64
	// Dropped counts what the engine reported dropping at recovery, and
	// DroppedDurable how many of those the manifest vouched for.
	Dropped, DroppedDurable int
	DroppedBytes            uint64
}

// Missing reports whether a stream of the manifest is not in the engine.
func (r StreamReport) Missing() bool { return r.State == nil }

// Durable reports whether the stream lost records the manifest vouched for
// as being on disk: no crash or power loss explains that, only damaged or
// deleted files (or an older copy of them).
func (r StreamReport) Durable() bool {
	return r.Missing() || r.LostMsgs > 0 || r.SeqBack > 0 || r.DroppedDurable > 0
}

// Damaged reports whether anything of the stream was lost: Durable, or the
// engine dropped records written since the manifest (the tail a power
// loss may take without sync-always).
func (r StreamReport) Damaged() bool {
	return r.Durable() || r.Dropped > 0 || r.DroppedBytes > 0
}

// String says in one line what the stream holds and what it lost.
func (r StreamReport) String() string {
	var b strings.Builder
	switch {
	case r.Missing():
		fmt.Fprintf(&b, "%s: MISSING: the stream is gone from the engine; the manifest recorded %d messages (%d bytes) up to sequence %d", r.Name, r.Recorded.Msgs, r.Recorded.Bytes, r.Recorded.LastSeq)
		return b.String()
	case r.Damaged():
		fmt.Fprintf(&b, "%s: DAMAGED: ", r.Name)
	default:
		fmt.Fprintf(&b, "%s: ok: ", r.Name)
	}
	fmt.Fprintf(&b, "%d messages (%d bytes) up to sequence %d", r.State.Msgs, r.State.Bytes, r.State.LastSeq)
	if r.Recorded != nil {
		fmt.Fprintf(&b, "; the manifest recorded %d messages up to sequence %d", r.Recorded.Msgs, r.Recorded.LastSeq)
	}
	var lost []string
	if r.LostMsgs > 0 {
		lost = append(lost, fmt.Sprintf("%d messages lost", r.LostMsgs))
	}
	if r.SeqBack > 0 {
		lost = append(lost, fmt.Sprintf("the last %d sequences are gone", r.SeqBack))
	}
	if r.Dropped > 0 || r.DroppedBytes > 0 {
		lost = append(lost, fmt.Sprintf("the engine dropped %d unreadable messages (%d bytes)", r.Dropped, r.DroppedBytes))
	}
	if len(lost) > 0 {
		b.WriteString(": " + strings.Join(lost, ", "))
	}
	return b.String()
}

// Damaged reports whether any stream lost anything.
func (r Report) Damaged() bool {
	return slices.ContainsFunc(r.Streams, StreamReport.Damaged)
}

// Unvouched is what the engine holds that no manifest vouches for, when
// there was none to compare with: the streams holding records and how many
// records they hold (0, 0 with a manifest, or an engine holding nothing).
func (r Report) Unvouched() (streams int, records uint64) {
	if r.Manifest {
		return 0, 0
	}
	for _, s := range r.Streams {
		if s.State != nil && s.State.LastSeq > 0 {
			streams++
			records += s.State.Msgs
		}
	}
	return streams, records
}

// Durable reports whether any stream lost records the manifest vouched for.
func (r Report) Durable() bool {
	return slices.ContainsFunc(r.Streams, StreamReport.Durable)
}

// Check compares the engine's streams with the manifest (found false: there
// was none).
func Check(m Manifest, found bool, states []StreamState) Report {
	rep := Report{Manifest: found}
	seen := map[string]bool{}
	for i := range states {
		s := &states[i]
		seen[s.Name] = true
		r := StreamReport{Name: s.Name, State: s, Dropped: len(s.LostMsgs), DroppedBytes: s.LostBytes}
		if rec, ok := m.Streams[s.Name]; ok {
			r.Recorded = &rec
			if !rec.Limited && s.Msgs < rec.Msgs {
				r.LostMsgs = rec.Msgs - s.Msgs
			}
			if s.LastSeq < rec.LastSeq {
				r.SeqBack = rec.LastSeq - s.LastSeq
			}
			for _, seq := range s.LostMsgs {
				if seq <= rec.LastSeq {
					r.DroppedDurable++
				}
			}
		}
		rep.Streams = append(rep.Streams, r)
	}
	for name, rec := range m.Streams {
		if !seen[name] {
			rep.Streams = append(rep.Streams, StreamReport{Name: name, Recorded: &rec, LostMsgs: rec.Msgs, SeqBack: rec.LastSeq})
		}
	}
	slices.SortFunc(rep.Streams, func(a, b StreamReport) int { return strings.Compare(a.Name, b.Name) })
	return rep
}

// Accept is the manifest after a loss was accepted: per stream what both m
// and the engine have, so that the same loss is not reported again and
// nothing the engine may not have on disk yet is vouched for. Streams not
// in m are left out until a checkpoint records them.
func (m Manifest) Accept(states []StreamState) Manifest {
	out := Manifest{Streams: map[string]Recorded{}}
	for _, s := range states {
		rec, ok := m.Streams[s.Name]
		if !ok {
			continue
		}
		out.Streams[s.Name] = Recorded{Msgs: min(rec.Msgs, s.Msgs), Bytes: min(rec.Bytes, s.Bytes), LastSeq: min(rec.LastSeq, s.LastSeq), Limited: s.Limited}
	}
	return out
}
