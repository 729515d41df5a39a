package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/internal/dirlock"
	"github.com/presenced/presenced/natsstore"
)

// checkCmd verifies a data directory's engine files without serving. The
// engine repairs what it opens (it cuts a block at its first bad record,
// for good), so the check works on a copy and the original stays as it
// was, for a backup restore or a closer look. The copy leaves out the
// engine's index files: the engine then rebuilds every stream from its
// records and verifies each record's checksum, which a normal start skips
// for blocks its index vouches for.
func checkCmd(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("check", flag.ContinueOnError)
	flags.SetOutput(stderr)
	data := flags.String("data", "presenced-data", "data `directory` to check (a server must not be running on it)")
	scratch := flags.String("scratch", "", "`directory` for the working copy of the engine's files (default the system's temporary directory); it needs as much free space as the files take")
	if err := fromEnv(flags, os.LookupEnv); err != nil {
		return err
	}
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("usage: presenced check [--data DIR] [--scratch DIR]")
	}
	if _, err := os.Stat(filepath.Join(*data, "engine")); err != nil {
		return fmt.Errorf("%s holds no engine files: %w", *data, err)
	}
	if m, _, err := natsstore.ReadManifest(filepath.Join(*data, presenced.ManifestFile)); err == nil && m.Cluster != "" {
		// Its streams are the cluster's: this node's copy may be behind and
		// catches up from its peers, so comparing it alone with what the
		// cluster held would report damage that is not there.
		return fmt.Errorf("%s is the data directory of a node of cluster %q: its data is kept by the cluster's quorum and a node's own files catch up from its peers, so it is not checked alone. A node's start compares its manifest with what the cluster holds (docs/cluster.md#data-safety-on-a-node)", *data, m.Cluster)
	}
	lock, err := dirlock.Acquire(*data, "presenced check")
	if err != nil {
		return err
	}
	defer lock.Release()

	work, err := os.MkdirTemp(*scratch, "presenced-check-")
	if err != nil {
		return fmt.Errorf("working copy: %w", err)
	}
	defer os.RemoveAll(work)
	if err := copyEngine(filepath.Join(*data, "engine"), filepath.Join(work, "engine")); err != nil {
		return fmt.Errorf("working copy (try --scratch on a volume with room): %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// The engine's own warnings say where a block was cut.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := natsstore.Open(ctx, natsstore.Options{Dir: filepath.Join(work, "engine"), Logger: logger})
	if err != nil {
		return fmt.Errorf("the engine does not open: %w", err)
	}
	states, err := eng.Streams(ctx)
	eng.Close()
	if err != nil {
		return err
	}

	var problems []string
	fmt.Fprintf(stdout, "data directory %s\n", *data)
	mpath := filepath.Join(*data, presenced.ManifestFile)
	m, found, merr := natsstore.ReadManifest(mpath)
	rep := natsstore.Check(m, found, states)
	streams, records := rep.Unvouched()
	switch {
	case merr != nil:
		fmt.Fprintf(stdout, "manifest: UNREADABLE: %v\n", merr)
		problems = append(problems, "the manifest is unreadable")
	case streams > 0:
		// Every start writes the manifest before any stream exists.
		fmt.Fprintf(stdout, "manifest: MISSING: the engine holds %d records in %d streams, and nothing vouches for them: records lost from the end of a stream cannot be seen (was it deleted, or left out of a restored backup?)\n", records, streams)
		problems = append(problems, "the manifest is missing")
	case !found:
		fmt.Fprintf(stdout, "manifest: none (the engine holds nothing)\n")
	default:
		fmt.Fprintf(stdout, "manifest: %s\n", mpath)
	}
	for _, r := range rep.Streams {
		fmt.Fprintln(stdout, "  "+r.String())
		if r.Damaged() {
			problems = append(problems, r.Name+" lost data")
		}
	}
	kpath := filepath.Join(*data, "issuer-key.pem")
	switch _, err := auth.ReadKey(kpath); {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(stdout, "signing key: MISSING: the next start generates a new key, and every token issued before is refused\n")
		problems = append(problems, "the signing key is missing")
	case err != nil:
		fmt.Fprintf(stdout, "signing key: BAD: %v\n", err)
		problems = append(problems, "the signing key is unusable (the server refuses to start)")
	default:
		fmt.Fprintf(stdout, "signing key: ok\n")
	}
	if len(problems) > 0 {
		fmt.Fprintln(stdout, "DAMAGE FOUND: see docs/durability.md for what to do")
		return fmt.Errorf("check of %s: %d problem(s): %v", *data, len(problems), problems)
	}
	fmt.Fprintln(stdout, "no damage found")
	return nil
}

// copyEngine copies the engine directory from to a new directory to,
// leaving out the streams' index files (index.db) so that opening the copy
// verifies every record.
func copyEngine(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o700)
		case !d.Type().IsRegular(), d.Name() == "index.db":
			return nil
		}
		return copyFile(path, dst)
	})
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
