package notify

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/presenced/presenced/store"
)

// flushLoop saves delivery progress once a second (and at the end), so
// that a restart re-delivers little and loses nothing.
func (m *Manager) flushLoop(ctx context.Context) {
	defer m.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.flush(context.Background())
			return
		case <-t.C:
			m.flush(ctx)
		}
	}
}

func (m *Manager) flush(ctx context.Context) {
	for _, rs := range m.all() {
		m.saveProgress(ctx, rs)
	}
}

func (m *Manager) saveProgress(ctx context.Context, rs *running) {
	rs.mu.Lock()
	p, saved, rev, id := rs.progress, rs.saved, rs.progressRev, rs.sub.ID
	rs.mu.Unlock()
	if p == saved {
		return
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], p)
	nrev, err := m.o.KV.Put(ctx, progressKeyPrefix+id, b[:], rev)
	if errors.Is(err, store.ErrConflict) {
		// Another node saved it since (it delivered the subscription
		// while this node's lease was lapsing): never move it back.
		cur, gerr := m.o.KV.Get(ctx, progressKeyPrefix+id)
		if gerr != nil || len(cur.Value) != 8 {
			m.log.Warn("saving delivery progress", "subscription", id, "err", errors.Join(err, gerr))
			return
		}
		if stored := binary.BigEndian.Uint64(cur.Value); stored >= p {
			nrev, err = cur.Revision, nil
		} else {
			nrev, err = m.o.KV.Put(ctx, progressKeyPrefix+id, b[:], cur.Revision)
		}
	}
	if err != nil {
		m.log.Warn("saving delivery progress", "subscription", id, "err", err)
		return
	}
	rs.mu.Lock()
	rs.saved, rs.progressRev = p, nrev
	rs.mu.Unlock()
}
