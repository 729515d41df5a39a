package notify

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
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
	// for UsersGone; it is asked again before every delivery attempt, so a
	// deleted user's changes not yet taken are not delivered afterward.
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

	// Leases decide, in a cluster, which node delivers each subscription:
	// one lease per shard of subscriptions (shard.go). nil: this node
	// delivers every subscription (a single node).
	Leases store.Leases
	// Holder is this node's name (it staggers the nodes' first tries).
	Holder string
	// LeaseClock times how long a lease may be acted on: the wall clock's
	// pace, never a dev clock (default the wall clock).
	LeaseClock clock.Clock
	// Shards is how many leases the subscriptions are spread over
	// (default DefaultShards).
	Shards int
}

// Manager keeps presence subscriptions: creates them after the validation
// handshake, stores them, delivers their notifications from the change log
// (one worker and one feed of the fanout per subscription, with its
// progress saved in the engine every second), sends lifecycle notifications
// and removes them when they expire. Every node of a cluster knows every
// subscription (it follows the bucket) and answers for any of them; each
// subscription is delivered by the node that holds its shard's lease.
type Manager struct {
	o      ManagerOptions
	client *http.Client // handshakes and lifecycle notifications
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	log    *slog.Logger

	mu       sync.Mutex
	subs     map[string]*running  // every subscription known, delivered here or not
	gone     map[string]time.Time // subscriptions deleted (ids are never reused), by when: a late copy is not taken in again
	held     map[int]bool         // the shards this node delivers
	kept     map[string]func()    // in a cluster: each known subscription's Hub.Keep, released when it is deleted
	holders  map[string]string    // in a cluster: each shard's lease → its holder (standby.go)
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

	// life serialises activate and deactivate (and dropping the feed of a
	// subscription not delivered here): starting writes release, cancel,
	// done and feed, which stopping reads; Manager.mu is not held across
	// the start, which waits on the engine.
	life sync.Mutex
	// While delivered by this node (active, guarded by Manager.mu and
	// changed only with life held):
	active  bool
	release func()
	// cancel ends the worker at once, a delivery in flight too (the
	// subscription is deleted, the lease may be lost, the node stops);
	// stop ends it after the delivery in flight has been answered or has
	// failed (a hand-over: deactivate).
	cancel, stop context.CancelFunc
	done         chan struct{}
	feed         *Feed                     // handed to the worker, which owns it from then on
	lastByUser   map[string]presence.Stamp // worker only
	sender       *sender                   // worker only
	expAt        time.Time                 // worker only: expStr formats expAt
	expStr       string
	basic        basicBody // worker only: the last basic notification's body

	// progress is the log position delivered up to; the flusher saves it
	// (saved, progressRev), so a restart or a takeover re-delivers at most
	// a second's worth.
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
	if o.Shards <= 0 {
		o.Shards = DefaultShards
	}
	if o.LeaseClock == nil {
		o.LeaseClock = clock.Real{}
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
		gone:     make(map[string]time.Time),
		held:     make(map[int]bool),
		kept:     make(map[string]func()),
		holders:  make(map[string]string),
		creating: make(map[Owner]bool),
		wake:     make(chan struct{}, 1),
	}
	if j, ok := o.Clock.(clock.Jumper); ok {
		j.OnJump(m.nudge)
	}
	return m
}

// Keys in the subscriptions bucket: the subscription, its progress, and
// its owner's claim (one presence subscription per owner).
const (
	subKeyPrefix      = "s."
	progressKeyPrefix = "p."
	ownerKeyPrefix    = "o."
)

// ownerKey is the key of an owner's claim: a hash, since ids need not be
// made of the characters a key may hold.
func ownerKey(o Owner) string {
	h := sha256.Sum256([]byte(o.TenantID + "\x00" + o.AppID + "\x00" + o.UserID))
	return ownerKeyPrefix + hex.EncodeToString(h[:16])
}

func ownerOf(s subscription.Subscription) Owner {
	return Owner{TenantID: s.TenantID, AppID: s.ApplicationID, UserID: s.CreatorID}
}

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

// all returns the subscriptions this node delivers.
func (m *Manager) all() []*running {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*running, 0, len(m.subs))
	for _, rs := range m.subs {
		if rs.active {
			out = append(out, rs)
		}
	}
	return out
}

// Wait blocks until every worker stopped (after Start's ctx ended).
func (m *Manager) Wait() { m.wg.Wait() }

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
	// One presence subscription per user per application (Graph: 409):
	// here first, then in the engine (another node may be creating one).
	m.mu.Lock()
	exists := m.creating[owner]
	var known []string
	for id, rs := range m.subs {
		if ownerOf(rs.get()) == owner && !rs.get().Expired(now) {
			known = append(known, id)
		}
	}
	if !exists {
		m.creating[owner] = true
	}
	m.mu.Unlock()
	if exists {
		return s, errExists()
	}
	defer func() {
		m.mu.Lock()
		delete(m.creating, owner)
		m.mu.Unlock()
	}()
	// What this node knows may be a moment old in a cluster (a deletion
	// through another node reaches it through the watch): the engine
	// says whether it still exists.
	for _, id := range known {
		_, err := m.read(ctx, id)
		if err == nil {
			return s, errExists()
		}
		if !errors.Is(err, store.ErrNotFound) {
			return s, engineErr(err)
		}
	}
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
	if err := m.claim(ctx, owner, s.ID); err != nil {
		return s, engineErr(err)
	}
	// Changes from here on are delivered, never the users' presence as it
	// already was. The users are watched first: the hub logs each one's
	// presence now where the log lacks it (a user nobody watched: its
	// catch-up) and every change after it. The subscription starts after
	// their last records then, so the catch-up is behind it on any clock.
	// CreatedAt alone cannot tell them apart on a clock that stands still
	// (dev mode's): a presence set before carries the very instant of
	// CreatedAt. A stream's users are watched first too (graphapi/stream.go);
	// another node that delivers the subscription reads from the position
	// saved here. The hub's linger keeps the users logged after release,
	// until the worker here or the shard's holder watches them.
	release, err := m.o.Hub.Watch(ctx, users(s))
	if err != nil {
		m.remove(ctx, s)
		return s, unavailable(err)
	}
	defer release()
	logged := m.o.Hub.Logged(users(s))
	feed := m.o.Fanout.OpenAfter(subjects(s), logged)
	head := max(feed.Start(), logged) // the position saved: delivered up to
	s.CreatedAt = m.o.Clock.Now()
	val, err := json.Marshal(s)
	if err != nil {
		feed.Close()
		m.remove(ctx, s)
		return s, err
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], head)
	prev, err := m.o.KV.Put(ctx, progressKeyPrefix+s.ID, b[:], 0)
	if err != nil {
		feed.Close()
		m.remove(ctx, s)
		return s, engineErr(err)
	}
	rev, err := m.o.KV.Put(ctx, subKeyPrefix+s.ID, val, 0)
	if err != nil {
		feed.Close()
		m.remove(ctx, s)
		return s, engineErr(err)
	}
	rs := &running{sub: s, rev: rev, cert: cert, feed: feed, progress: head, saved: head, progressRev: prev}
	if err := m.adopt(ctx, rs); err != nil {
		m.remove(ctx, s)
		return s, engineErr(err)
	}
	return s, nil
}

func errExists() error {
	return presence.Errorf(presence.Conflict, "",
		"A subscription already exists. It must be deleted before another can be made: this application may have one presence subscription per signed-in user.")
}

// claim takes the owner's claim in the engine for subscription id: a key
// written only if absent, so that two nodes creating at once make one
// subscription. A claim left by a subscription that is gone (expired, or
// its removal interrupted) is taken over.
func (m *Manager) claim(ctx context.Context, owner Owner, id string) error {
	key := ownerKey(owner)
	for attempt := 0; attempt < 3; attempt++ {
		_, err := m.o.KV.Put(ctx, key, []byte(id), 0)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		cur, err := m.o.KV.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if _, err := m.read(ctx, string(cur.Value)); err == nil {
			return errExists()
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// Stale: its subscription is gone.
		if err := m.o.KV.Delete(ctx, key, cur.Revision); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return errExists()
}

// read returns subscription id as the engine holds it now (ErrNotFound:
// none, or expired).
func (m *Manager) read(ctx context.Context, id string) (*running, error) {
	if !validID(id) {
		return nil, store.ErrNotFound
	}
	e, err := m.o.KV.Get(ctx, subKeyPrefix+id)
	if err != nil {
		return nil, err
	}
	var s subscription.Subscription
	if err := json.Unmarshal(e.Value, &s); err != nil {
		return nil, fmt.Errorf("notify: decode subscription %s: %w", id, err)
	}
	if s.Expired(m.o.Clock.Now()) {
		return nil, store.ErrNotFound
	}
	return &running{sub: s, rev: e.Revision}, nil
}

// validID reports whether id can be a key's token (a GUID is); anything
// else names no subscription.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (m *Manager) nudge() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Get returns the owner's subscription id, as the engine holds it (so a
// subscription created or renewed through another node is seen at once).
func (m *Manager) Get(ctx context.Context, owner Owner, id string) (subscription.Subscription, error) {
	rs, err := m.owned(ctx, owner, id)
	if err != nil {
		return subscription.Subscription{}, err
	}
	return rs.sub, nil
}

// List returns the owner's subscriptions: the one their claim names, as
// the engine holds it, and any this node knows of (one made before claims
// were kept).
func (m *Manager) List(ctx context.Context, owner Owner) ([]subscription.Subscription, error) {
	now := m.o.Clock.Now()
	byID := map[string]subscription.Subscription{}
	m.mu.Lock()
	for _, rs := range m.subs {
		if s := rs.get(); ownerOf(s) == owner && !s.Expired(now) {
			byID[s.ID] = s
		}
	}
	m.mu.Unlock()
	c, err := m.o.KV.Get(ctx, ownerKey(owner))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, unavailable(err)
	default:
		rs, err := m.read(ctx, string(c.Value))
		switch {
		case errors.Is(err, store.ErrNotFound):
			delete(byID, string(c.Value)) // removed meanwhile
		case err != nil:
			return nil, unavailable(err)
		case ownerOf(rs.sub) == owner:
			byID[rs.sub.ID] = rs.sub
		}
	}
	out := make([]subscription.Subscription, 0, len(byID))
	for _, s := range byID {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// owned reads the owner's subscription id from the engine; anything else
// (another owner's, an expired one, none) is the same 404.
func (m *Manager) owned(ctx context.Context, owner Owner, id string) (*running, error) {
	rs, err := m.read(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, unavailable(err)
	}
	if err == nil && ownerOf(rs.sub) == owner {
		return rs, nil
	}
	return nil, presence.Errorf(presence.NotFound, "id", "Subscription '%s' was not found.", clipID(id))
}

// unavailable keeps the engine's error for the log and answers 503.
func unavailable(err error) error {
	if msg, ok := store.FullMessage(err); ok { // not "did not answer": it answered that the disk is full
		return errors.Join(presence.Errorf(presence.Unavailable, "", "%s", msg), err)
	}
	return errors.Join(presence.Errorf(presence.Unavailable, "", "the subscription store did not answer; retry the request"), err)
}

// engineErr is unavailable for the engine's "did not answer in time" (or
// full), so that Create's client is told to retry (503), as Get, List and
// Renew do; a domain error (409, 400) and anything else pass unchanged.
func engineErr(err error) error {
	var pe *presence.Error
	if errors.As(err, &pe) || !(errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrFull)) {
		return err
	}
	return unavailable(err)
}

func clipID(s string) string {
	return presence.Clip(s, 60)
}

// Renew moves the owner's subscription's expiry (PATCH), through any node:
// the node that delivers it learns of it from the bucket.
func (m *Manager) Renew(ctx context.Context, owner Owner, id string, exp time.Time) (subscription.Subscription, error) {
	for attempt := 0; ; attempt++ {
		rs, err := m.owned(ctx, owner, id)
		if err != nil {
			return subscription.Subscription{}, err
		}
		next := rs.sub
		next.ExpirationDateTime = exp
		val, err := json.Marshal(next)
		if err != nil {
			return subscription.Subscription{}, err
		}
		rev, err := m.o.KV.Put(ctx, subKeyPrefix+id, val, rs.rev)
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue // renewed through another node meanwhile
		}
		if err != nil {
			return subscription.Subscription{}, unavailable(err)
		}
		m.apply(store.Change{Key: subKeyPrefix + id, Value: val, Revision: rev})
		return next, nil
	}
}

// Delete removes the owner's subscription, through any node.
func (m *Manager) Delete(ctx context.Context, owner Owner, id string) error {
	rs, err := m.owned(ctx, owner, id)
	if err != nil {
		return err
	}
	m.forget(id)
	m.remove(ctx, rs.sub)
	return nil
}

// remove deletes a subscription, its progress and its owner's claim (if
// it is still this subscription's) from the engine.
func (m *Manager) remove(ctx context.Context, s subscription.Subscription) {
	for _, k := range []string{subKeyPrefix + s.ID, progressKeyPrefix + s.ID} {
		if err := m.o.KV.Delete(ctx, k, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			m.log.Warn("deleting a subscription", "key", k, "err", err)
		}
	}
	key := ownerKey(ownerOf(s))
	if c, err := m.o.KV.Get(ctx, key); err == nil && string(c.Value) == s.ID {
		if err := m.o.KV.Delete(ctx, key, c.Revision); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			m.log.Warn("deleting a subscription's claim", "subscription", s.ID, "err", err)
		}
	}
}
