package notify

import (
	"context"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/notify/richdata"
	"github.com/presenced/presenced/notify/subscription"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// Owner is who a subscription belongs to: the signed-in user of an app in
// a tenant. Graph allows one presence subscription per owner (409).
type Owner struct {
	TenantID string
	AppID    string
	UserID   string
}

// ManagerOptions configure a Manager. Hub, Fanout, KV and Clock are required.
type ManagerOptions struct {
	Hub    *Hub
	Fanout *Fanout
	KV     store.KV // the subscriptions bucket and their delivery progress
	Clock  clock.Clock
	Logger *slog.Logger
	// Policy decides which URLs may be called (https, no internal addresses).
	Policy subscription.URLPolicy
	// Visible says whether a reader in tenant may see user's presence; it is
	// asked again at every delivery, so revoking trust stops notifications.
	Visible func(tenantID string, user core.UserRef) bool
	// Known says whether a user is still in the directory (nil: always),
	// for UsersGone.
	Known func(user core.UserRef) bool
	// ValidationTokens mints the validationTokens of rich notifications
	// (JWTs for the subscribing app); nil sends none.
	ValidationTokens func(tenantID, appID string) (string, error)
	// ValidationTimeout bounds the validation handshake (default 10 s, as Graph).
	ValidationTimeout time.Duration
	// DeliveryTimeout bounds one delivery attempt (default 10 s).
	DeliveryTimeout time.Duration
	// RetryFor is how long a change is retried before it is dropped
	// (default 4 h, as Graph).
	RetryFor time.Duration
	// Backoff is the first retry delay, doubled per attempt up to MaxBackoff
	// (defaults 1 s and 5 min).
	Backoff, MaxBackoff time.Duration
	// Observer is told of each delivery's outcome (nil: nobody).
	Observer Observer
}

// Manager keeps presence subscriptions: creates them after the validation
// handshake, stores them, delivers their notifications from the change log
// (one worker and one feed of the fanout per subscription, with its
// progress saved in the engine every second), sends lifecycle notifications
// and removes them when they expire.
type Manager struct {
	o      ManagerOptions
	client *http.Client // handshakes and lifecycle notifications
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	log    *slog.Logger

	mu       sync.Mutex
	subs     map[string]*running
	creating map[Owner]bool
	ctx      context.Context
	wg       sync.WaitGroup
	wake     chan struct{}
}

type running struct {
	mu         sync.Mutex
	sub        subscription.Subscription
	rev        uint64
	cert       *x509.Certificate
	reauthSent bool
	release    func()
	cancel     context.CancelFunc
	done       chan struct{}
	feed       *Feed                     // handed to the worker, which owns it from then on
	lastByUser map[string]presence.Stamp // worker only
	sender     *sender                   // worker only
	expAt      time.Time                 // worker only: expStr formats expAt
	expStr     string

	// progress is the log position delivered up to; the flusher saves it
	// (saved, progressRev), so a restart re-delivers at most a second's worth.
	progress    uint64
	saved       uint64
	progressRev uint64
}

// expiry formats the subscription's expiry for notifications, once per
// renewal rather than once per delivery. Worker only.
func (r *running) expiry(t time.Time) string {
	if !t.Equal(r.expAt) || r.expStr == "" {
		r.expAt, r.expStr = t, presence.FormatDateTime(t)
	}
	return r.expStr
}

func (r *running) get() subscription.Subscription {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sub
}

// NewManager builds a manager; Start loads the stored subscriptions.
func NewManager(o ManagerOptions) *Manager {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ValidationTimeout <= 0 {
		o.ValidationTimeout = 10 * time.Second
	}
	if o.DeliveryTimeout <= 0 {
		o.DeliveryTimeout = 10 * time.Second
	}
	if o.RetryFor <= 0 {
		o.RetryFor = 4 * time.Hour
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.Observer == nil {
		o.Observer = noObserver{}
	}
	if o.Visible == nil {
		o.Visible = func(tenantID string, u core.UserRef) bool { return tenantID == u.TenantID }
	}
	// Deliveries go through each worker's sender, over a connection of its
	// own; this client only makes the handshakes and lifecycle
	// notifications, both through the same checking dialer.
	dial := o.Policy.Dialer(&net.Dialer{Timeout: 5 * time.Second})
	tr := &http.Transport{
		DialContext:         dial,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}
	m := &Manager{
		o:        o,
		dial:     dial,
		log:      o.Logger,
		client:   &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		subs:     make(map[string]*running),
		creating: make(map[Owner]bool),
		wake:     make(chan struct{}, 1),
	}
	if j, ok := o.Clock.(clock.Jumper); ok {
		j.OnJump(func() {
			select {
			case m.wake <- struct{}{}:
			default:
			}
		})
	}
	return m
}

// Keys in the subscriptions bucket: the subscription, and its progress.
const (
	subKeyPrefix      = "s."
	progressKeyPrefix = "p."
)

func subjects(s subscription.Subscription) []string { return userSubjects(users(s)) }

func users(s subscription.Subscription) []core.UserRef {
	out := make([]core.UserRef, len(s.UserIDs))
	for i, u := range s.UserIDs {
		tenant := s.TenantID
		if i < len(s.UserTenantIDs) {
			tenant = s.UserTenantIDs[i]
		}
		out[i] = core.UserRef{TenantID: tenant, UserID: u}
	}
	return out
}

// Start loads the stored subscriptions, removes expired ones, and starts
// delivering. It returns once everything is running; work continues until
// ctx ends. The fanout must be started afterwards, from ResumeFrom.
func (m *Manager) Start(ctx context.Context) error {
	m.ctx = ctx
	keys, err := m.o.KV.Keys(ctx, subKeyPrefix)
	if err != nil {
		return err
	}
	now := m.o.Clock.Now()
	for _, k := range keys {
		e, err := m.o.KV.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		var s subscription.Subscription
		if err := json.Unmarshal(e.Value, &s); err != nil {
			return fmt.Errorf("notify: decode subscription %s: %w", k, err)
		}
		if s.Expired(now) {
			m.remove(ctx, s.ID)
			continue
		}
		rs := &running{sub: s, rev: e.Revision}
		if p, err := m.o.KV.Get(ctx, progressKeyPrefix+s.ID); err == nil && len(p.Value) == 8 {
			rs.progress, rs.saved, rs.progressRev = binary.BigEndian.Uint64(p.Value), binary.BigEndian.Uint64(p.Value), p.Revision
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if s.IncludeResourceData {
			// Checked at creation; a certificate that expired since still
			// encrypts (the receiver's key is what matters).
			if rs.cert, err = richdata.ParseCertificate(s.EncryptionCertificate, s.CreatedAt); err != nil {
				m.log.Warn("subscription certificate no longer parses", "subscription", s.ID, "err", err)
			}
		}
		if err := m.launch(ctx, rs); err != nil {
			return err
		}
	}
	m.wg.Add(2)
	go m.lifecycleLoop(ctx)
	go m.flushLoop(ctx)
	return nil
}

// ResumeFrom is the log position the fanout must start from so that every
// loaded subscription gets what it has not delivered yet (0: none loaded).
func (m *Manager) ResumeFrom() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var from uint64
	for _, rs := range m.subs {
		rs.mu.Lock()
		p := rs.progress + 1
		rs.mu.Unlock()
		if from == 0 || p < from {
			from = p
		}
	}
	return from
}

// all returns the running subscriptions.
func (m *Manager) all() []*running {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*running, 0, len(m.subs))
	for _, rs := range m.subs {
		out = append(out, rs)
	}
	return out
}

// Wait blocks until every worker stopped (after Start's ctx ended).
func (m *Manager) Wait() { m.wg.Wait() }

// launch watches the subscription's users, opens its feed from its
// progress on (unless it has one) and starts its worker.
func (m *Manager) launch(ctx context.Context, rs *running) error {
	s := rs.sub
	if rs.feed == nil {
		rs.feed = m.o.Fanout.Open(subjects(s), rs.progress+1)
	}
	release, err := m.o.Hub.Watch(ctx, users(s))
	if err != nil {
		rs.feed.Close()
		return err
	}
	wctx, cancel := context.WithCancel(m.ctx)
	rs.release, rs.cancel, rs.done = release, cancel, make(chan struct{})
	rs.lastByUser = map[string]presence.Stamp{}
	m.mu.Lock()
	m.subs[s.ID] = rs
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(rs.done)
		m.work(wctx, rs)
	}()
	return nil
}

// Create validates the URLs, checks the one-per-owner rule, performs the
// validation handshake(s), and stores and starts the subscription. s must
// have passed subscription.CreateRequest.Validate; its UserIDs resolved.
func (m *Manager) Create(ctx context.Context, owner Owner, s subscription.Subscription) (subscription.Subscription, error) {
	now := m.o.Clock.Now()
	if err := m.o.Policy.Check(ctx, "notificationUrl", s.NotificationURL); err != nil {
		return s, err
	}
	if s.LifecycleNotificationURL != "" {
		if err := m.o.Policy.Check(ctx, "lifecycleNotificationUrl", s.LifecycleNotificationURL); err != nil {
			return s, err
		}
	}
	var cert *x509.Certificate
	if s.IncludeResourceData {
		var err error
		if cert, err = richdata.ParseCertificate(s.EncryptionCertificate, now); err != nil {
			return s, err
		}
	}
	// One presence subscription per user per application (Graph: 409).
	m.mu.Lock()
	exists := m.creating[owner]
	for _, rs := range m.subs {
		if o := rs.get(); o.TenantID == owner.TenantID && o.ApplicationID == owner.AppID && o.CreatorID == owner.UserID {
			exists = true
		}
	}
	if !exists {
		m.creating[owner] = true
	}
	m.mu.Unlock()
	if exists {
		return s, presence.Errorf(presence.Conflict, "",
			"A subscription already exists. It must be deleted before another can be made: this application may have one presence subscription per signed-in user.")
	}
	defer func() {
		m.mu.Lock()
		delete(m.creating, owner)
		m.mu.Unlock()
	}()
	for _, u := range []struct{ field, url string }{{"notificationUrl", s.NotificationURL}, {"lifecycleNotificationUrl", s.LifecycleNotificationURL}} {
		if u.url == "" {
			continue
		}
		if err := m.handshake(ctx, u.field, u.url); err != nil {
			return s, err
		}
	}
	s.ID = guid.New()
	s.TenantID, s.ApplicationID, s.CreatorID = owner.TenantID, owner.AppID, owner.UserID
	// Changes from here on are delivered: the feed is opened before
	// CreatedAt is taken, so every change at or after CreatedAt reaches it;
	// what the hub appends to catch an unwatched user up predates CreatedAt
	// and is skipped by the worker.
	feed := m.o.Fanout.Open(subjects(s), 0)
	s.CreatedAt = m.o.Clock.Now()
	val, err := json.Marshal(s)
	if err != nil {
		feed.Close()
		return s, err
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], feed.Start())
	prev, err := m.o.KV.Put(ctx, progressKeyPrefix+s.ID, b[:], 0)
	if err != nil {
		feed.Close()
		return s, err
	}
	rev, err := m.o.KV.Put(ctx, subKeyPrefix+s.ID, val, 0)
	if err != nil {
		feed.Close()
		m.remove(ctx, s.ID)
		return s, err
	}
	rs := &running{sub: s, rev: rev, cert: cert, feed: feed, progress: feed.Start(), saved: feed.Start(), progressRev: prev}
	if err := m.launch(ctx, rs); err != nil {
		m.remove(ctx, s.ID)
		return s, err
	}
	m.nudge()
	return s, nil
}

func (m *Manager) nudge() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Get returns the owner's subscription id.
func (m *Manager) Get(owner Owner, id string) (subscription.Subscription, error) {
	rs, err := m.owned(owner, id)
	if err != nil {
		return subscription.Subscription{}, err
	}
	return rs.get(), nil
}

// List returns the owner's subscriptions.
func (m *Manager) List(owner Owner) []subscription.Subscription {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []subscription.Subscription
	for _, rs := range m.subs {
		if s := rs.get(); s.TenantID == owner.TenantID && s.ApplicationID == owner.AppID && s.CreatorID == owner.UserID {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

func (m *Manager) owned(owner Owner, id string) (*running, error) {
	m.mu.Lock()
	rs := m.subs[id]
	m.mu.Unlock()
	if rs != nil {
		if s := rs.get(); s.TenantID == owner.TenantID && s.ApplicationID == owner.AppID && s.CreatorID == owner.UserID && !s.Expired(m.o.Clock.Now()) {
			return rs, nil
		}
	}
	return nil, presence.Errorf(presence.NotFound, "id", "Subscription '%s' was not found.", clipID(id))
}

func clipID(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// Renew moves the owner's subscription's expiry (PATCH).
func (m *Manager) Renew(ctx context.Context, owner Owner, id string, exp time.Time) (subscription.Subscription, error) {
	rs, err := m.owned(owner, id)
	if err != nil {
		return subscription.Subscription{}, err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	next := rs.sub
	next.ExpirationDateTime = exp
	val, err := json.Marshal(next)
	if err != nil {
		return subscription.Subscription{}, err
	}
	rev, err := m.o.KV.Put(ctx, subKeyPrefix+id, val, rs.rev)
	if err != nil {
		return subscription.Subscription{}, err
	}
	rs.sub, rs.rev, rs.reauthSent = next, rev, false
	m.nudge()
	return next, nil
}

// Delete removes the owner's subscription.
func (m *Manager) Delete(ctx context.Context, owner Owner, id string) error {
	rs, err := m.owned(owner, id)
	if err != nil {
		return err
	}
	m.stop(rs)
	m.remove(ctx, id)
	return nil
}

// stop ends a running subscription's worker and watch; it reports false
// when another caller (an expiry, a delete, a user leaving) stopped it
// first.
func (m *Manager) stop(rs *running) bool {
	m.mu.Lock()
	if m.subs[rs.sub.ID] != rs {
		m.mu.Unlock()
		return false
	}
	delete(m.subs, rs.sub.ID)
	m.mu.Unlock()
	rs.cancel()
	<-rs.done // the worker closed its feed
	rs.release()
	return true
}

// remove deletes a subscription and its progress from the engine.
func (m *Manager) remove(ctx context.Context, id string) {
	for _, k := range []string{subKeyPrefix + id, progressKeyPrefix + id} {
		if err := m.o.KV.Delete(ctx, k, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			m.log.Warn("deleting a subscription", "key", k, "err", err)
		}
	}
}
