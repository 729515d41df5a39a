package presenced

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/notify"
	"github.com/presenced/presenced/notify/subscription"
	"github.com/presenced/presenced/observe"
	"github.com/presenced/presenced/store"
)

// Change notifications: the change log, the hub, webhook subscriptions
// and the live stream, wired at start (startNotify).

// changeLogBytes is the change log's size bound: the configured one, or a
// quarter of the data volume up to changeLogMaxBytes, so that a small
// volume is not reserved whole for it.
func (s *Server) changeLogBytes() int64 {
	if s.cfg.ChangeLogMaxBytes > 0 {
		return s.cfg.ChangeLogMaxBytes
	}
	if total, _, ok := s.engine.Volume(); ok && total/4 < changeLogMaxBytes {
		return int64(total / 4)
	}
	return changeLogMaxBytes
}

// startNotify opens the change log and starts the hub (time-caused changes)
// and the subscription manager (webhook deliveries).
func (s *Server) startNotify(ctx context.Context) error {
	logBytes := s.changeLogBytes()
	changes, err := s.engine.Log(ctx, "CHANGES", natsstore.LogOptions{Subjects: []string{"chg.>"}, MaxAge: changeLogMaxAge, MaxBytes: logBytes})
	if err == nil {
		changes = observe.Log(changes, "CHANGES", s.metrics, s.log)
	}
	if errors.Is(err, store.ErrFull) {
		total, _, _ := s.engine.Volume()
		return fmt.Errorf("presenced: the change log reserves %d bytes of the engine's storage (--change-log-max-mib), more than the %d bytes of the data directory's volume leave it; lower --change-log-max-mib: %w", logBytes, total, err)
	}
	if err != nil {
		return fmt.Errorf("presenced: engine: %w", err)
	}
	subsKV, err := s.engine.Bucket(ctx, "subscriptions")
	if err != nil {
		return fmt.Errorf("presenced: engine: %w", err)
	}
	subsKV = s.kv("subscriptions", subsKV)
	runCtx := s.runCtx
	fan := notify.NewFanout(notify.FanoutOptions{Log: changes, Logger: s.log, MaxQueue: s.cfg.NotifyQueue})
	s.metrics.GaugeFunc("notify_queue_depth", "Changes waiting in memory for their readers (webhook subscriptions and live streams).", func() float64 { return float64(fan.QueueDepth()) })
	// Users stay watched (their changes logged) for as long as the log
	// keeps changes, so that a stream may resume within that window.
	// In a cluster a time-caused change is announced from what the engine
	// holds (another node may have just written the user).
	s.hub = notify.NewHub(notify.HubOptions{Core: s.core, Log: changes, Fanout: fan, Clock: s.clock, Logger: s.log, Linger: changeLogMaxAge,
		Fresh: s.cfg.Cluster != nil})
	s.runDone.Add(1)
	go func() {
		defer s.runDone.Done()
		s.hub.Run(runCtx)
	}()
	// In a cluster each shard of the subscriptions is delivered by the
	// node that holds its lease; a single node delivers them all.
	var leases store.Leases
	holder := ""
	if c := s.cfg.Cluster; c != nil {
		if holder = c.NodeName; holder == "" {
			holder, _ = os.Hostname()
		}
		if leases, err = s.engine.Leases(ctx, "leases", natsstore.LeaseOptions{Holder: holder, TTL: notifyLeaseTTL,
			// The node that leads the leases delivers nothing (notify's
			// standby) and leads what the deliverers use: a deliverer's
			// death then waits for no election.
			Beside: []string{"KV_subscriptions", "CHANGES"}}); err != nil {
			return fmt.Errorf("presenced: engine: %w", err)
		}
	}
	s.subs = notify.NewManager(notify.ManagerOptions{
		Hub: s.hub, Fanout: fan, KV: subsKV, Clock: s.clock, Logger: s.log, Observer: s.notifyObserver(),
		Leases: leases, Holder: holder,
		Policy:           subscription.URLPolicy{RequireHTTPS: !s.cfg.Dev, AllowPrivate: s.cfg.Dev || s.cfg.AllowPrivateWebhooks},
		ValidationTokens: func(tenantID, appID string) (string, error) { return s.issuer.ValidationToken(tenantID, appID) },
		Visible: func(tenantID string, u core.UserRef) bool {
			return strings.EqualFold(tenantID, u.TenantID) || s.dir.Trusted(tenantID, u.TenantID)
		},
		Known: func(u core.UserRef) bool { return s.knownUser(u.TenantID, u.UserID) },
	})
	if err := s.subs.Start(runCtx); err != nil {
		return fmt.Errorf("presenced: subscriptions: %w", err)
	}
	// One reader of the change log for the whole server, from where the
	// subscriptions left off (or from now).
	from := s.subs.ResumeFrom()
	if from == 0 {
		last, err := changes.LastSeq(ctx)
		if err != nil {
			return fmt.Errorf("presenced: engine: %w", err)
		}
		from = last + 1
	}
	fan.SetPosition(from - 1)
	s.runDone.Add(1)
	go func() {
		defer s.runDone.Done()
		fan.Run(runCtx)
	}()
	s.runDone.Add(1)
	go func() {
		defer s.runDone.Done()
		<-runCtx.Done()
		s.subs.Wait()
	}()
	return nil
}
