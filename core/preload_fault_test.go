package core_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/core/cachefile"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/internal/mapfile"
)

// A saved cache read mapped and cut short under the load (someone else
// truncating the file) is an error, not the end of the process, and the
// load's workers end: left waiting for records that never come, they
// would keep what was loaded so far for good.
func TestPreloadOfAFileCutShortUnderIt(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux maps the file")
	}
	const n = 200_000
	var file bytes.Buffer
	w := cachefile.NewWriter(&file, cachefile.Header{Format: 1})
	entry := binary.AppendUvarint(nil, 1)
	entry = append(entry, bytes.Repeat([]byte{1}, 68)...)
	for i := range n {
		g, _ := guid.Parse(fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
		if err := w.Add(cachefile.Record{Tenant: "a5036a1a-166f-4ed5-bf5a-e0ccc1602604", GUID: g, IsGUID: true, Entry: entry}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cache.snapshot")
	if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := mapfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	snap, err := cachefile.Decode(f.Bytes()) // the whole file checked
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(file.Len()/3)); err != nil {
		t.Fatal(err)
	}
	var perr error
	err = mapfile.Guard(func() { _, perr = core.Preload(snap) })
	if !errors.Is(err, mapfile.ErrFault) && !errors.Is(perr, mapfile.ErrFault) {
		t.Fatalf("preloading a file cut short: %v, %v; want mapfile.ErrFault", err, perr)
	}
	// The load's workers are gone (other tests' goroutines may come and
	// go meanwhile: the workers are looked for by name).
	buf := make([]byte, 1<<20)
	for i := 0; ; i++ {
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "core.(*Core).restoreAll") {
			break
		}
		if i == 200 {
			t.Fatalf("the load's workers are still there:\n%s", stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
