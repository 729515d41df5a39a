package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/notify/richdata"
	"github.com/presenced/presenced/notify/subscription"
)

// notification is one item of Graph's changeNotificationCollection.
type notification struct {
	SubscriptionID                 string                     `json:"subscriptionId"`
	ClientState                    *string                    `json:"clientState"`
	ChangeType                     string                     `json:"changeType"`
	TenantID                       string                     `json:"tenantId"`
	OrganizationID                 string                     `json:"organizationId"`
	Resource                       string                     `json:"resource"`
	SubscriptionExpirationDateTime string                     `json:"subscriptionExpirationDateTime"`
	ResourceData                   resourceData               `json:"resourceData"`
	EncryptedContent               *richdata.EncryptedContent `json:"encryptedContent,omitempty"`
}

type resourceData struct {
	ODataID   string `json:"@odata.id"`
	ODataType string `json:"@odata.type"`
	ID        string `json:"id"`
}

type collection struct {
	Value            []notification `json:"value"`
	ValidationTokens []string       `json:"validationTokens,omitempty"`
}

// RichData is the plaintext of encryptedContent: the presence as another
// user would read it (no status-message expiry), with Graph's annotations.
type RichData struct {
	ODataID             string      `json:"@odata.id"`
	ODataType           string      `json:"@odata.type"`
	ID                  string      `json:"id"`
	Availability        string      `json:"availability"`
	Activity            string      `json:"activity"`
	OutOfOfficeSettings any         `json:"outOfOfficeSettings"`
	StatusMessage       *richStatus `json:"statusMessage"`
	SequenceNumber      string      `json:"sequenceNumber"`
}

type richStatus struct {
	Message struct {
		Content     string `json:"content"`
		ContentType string `json:"contentType"`
	} `json:"message"`
}

// work delivers the subscription's changes in order, one at a time, each
// until the receiver takes it or RetryFor has passed since the change.
// A subscription that falls too far behind (a slow or dead receiver) does
// not keep its backlog in memory: the fanout drops its queue, and the
// worker reads the changes it has not delivered from the log instead.
//
// When ctx ends the worker stops at once, and a delivery in flight is cut
// (the receiver may have taken it: it is not counted delivered, and is
// sent again by whoever delivers next). When only soft ends (a hand-over)
// it takes no further change and retries nothing, but lets the attempt in
// flight be answered or fail first, so that the position then saved says
// exactly what the receiver took and the next holder sends nothing twice.
func (m *Manager) work(ctx, soft context.Context, rs *running) {
	feed := rs.feed
	defer func() { feed.Close() }()
	rs.sender = &sender{dial: m.dial, timeout: m.o.DeliveryTimeout}
	defer context.AfterFunc(ctx, rs.sender.stop)()
	defer rs.sender.stop()
	for {
		e, err := feed.Next(soft, senderIdle)
		if errors.Is(err, ErrIdle) {
			rs.sender.closeIdle()
			continue
		}
		if err != nil {
			if soft.Err() != nil {
				return
			}
			rs.mu.Lock()
			from := rs.progress + 1
			rs.mu.Unlock()
			if errors.Is(err, ErrLagged) {
				m.log.Info("subscription fell behind; delivering from the change log", "subscription", rs.get().ID, "from", from)
			} else {
				m.log.Warn("reading the change log; retrying", "subscription", rs.get().ID, "err", err)
				if !clock.Sleep(soft, time.Second) {
					return
				}
			}
			feed.Close()
			feed = m.o.Fanout.Open(subjects(rs.get()), from)
			continue
		}
		rs.mu.Lock()
		done := e.Seq <= rs.progress
		rs.mu.Unlock()
		if done {
			continue // delivered before a restart
		}
		if soft.Err() != nil || !m.deliver(ctx, soft, rs, e.Change) {
			return
		}
		rs.mu.Lock()
		rs.progress = e.Seq
		rs.mu.Unlock()
	}
}

// deliver sends one change; false means stop (the subscription is going
// away, or is handed over) without counting it delivered. An attempt is
// cut only when ctx ends; when soft ends, the attempt in flight is
// finished and no other is made.
func (m *Manager) deliver(ctx, soft context.Context, rs *running, c *Change) bool {
	s := rs.get()
	u := core.UserRef{TenantID: c.TenantID, UserID: c.UserID}
	// Changes from before the subscription existed (the log's catch-ups
	// of its users are behind the position it starts from: Create; this
	// guards a change stamped before CreatedAt logged after), from once
	// it expired (the node removes it within a second, while GET already
	// answers 404 from the engine), repeats, and users the tenant may no
	// longer see are not delivered.
	if c.Seq.At < s.CreatedAt.UnixNano() || s.Expired(c.At) || !rs.lastByUser[c.UserID].Less(c.Seq) || !m.o.Visible(s.TenantID, u) {
		return true
	}
	body, err := m.body(s, rs, *c)
	if err != nil {
		m.log.Error("building a notification", "subscription", s.ID, "err", err)
		return true
	}
	wait := m.o.Backoff
	for {
		if m.o.Known != nil && !m.o.Known(u) {
			// Left the directory, maybe while the receiver did not take
			// the change: a deleted user is not reported as updated after
			// the deletion (a stream drops them, event: removed).
			return true
		}
		err := rs.sender.post(ctx, s.NotificationURL, body)
		if err == nil {
			rs.lastByUser[c.UserID] = c.Seq
			m.o.Observer.Delivered(m.o.Clock.Now().Sub(c.At))
			return true
		}
		if soft.Err() != nil {
			return false
		}
		if m.o.Clock.Now().Sub(c.At) >= m.o.RetryFor {
			m.o.Observer.Dropped()
			m.log.Warn("notification dropped after retrying", "subscription", s.ID, "tenant", s.TenantID, "app", s.ApplicationID, "user", c.UserID, "for", m.o.RetryFor, "err", err)
			return true
		}
		m.o.Observer.Retried()
		m.log.Info("notification not taken; retrying", "subscription", s.ID, "tenant", s.TenantID, "app", s.ApplicationID, "in", wait, "err", err)
		if !clock.Sleep(soft, wait) {
			return false
		}
		wait = min(2*wait, m.o.MaxBackoff)
	}
}

// basicBody is a basic notification's body (no resource data) with what
// it was built from: it names the subscription and the user, not the
// change, so a subscription's next change of the same user sends the same
// bytes. Measured at 1,000 subscriptions, building it for every delivery
// was a tenth of the sending worker's CPU (docs/performance.md).
type basicBody struct {
	user, clientState, expiry string
	body                      []byte
}

func (m *Manager) body(s subscription.Subscription, rs *running, c Change) ([]byte, error) {
	rich := s.IncludeResourceData && rs.cert != nil
	exp := rs.expiry(s.ExpirationDateTime)
	if b := &rs.basic; !rich && b.body != nil && b.user == c.UserID && b.clientState == s.ClientState && b.expiry == exp {
		return b.body, nil
	}
	body, err := m.build(s, rs, c, rich, exp)
	if err == nil && !rich {
		rs.basic = basicBody{user: c.UserID, clientState: s.ClientState, expiry: exp, body: body}
	}
	return body, err
}

// build encodes the notification of change c to subscription s.
func (m *Manager) build(s subscription.Subscription, rs *running, c Change, rich bool, exp string) ([]byte, error) {
	n := notification{
		SubscriptionID:                 s.ID,
		ChangeType:                     subscription.ChangeTypeUpdated,
		TenantID:                       s.TenantID,
		OrganizationID:                 s.TenantID,
		Resource:                       "communications/presences/" + c.UserID,
		SubscriptionExpirationDateTime: exp,
		ResourceData: resourceData{
			ODataID: "users/" + c.UserID + "/presence", ODataType: "#microsoft.graph.presence", ID: c.UserID,
		},
	}
	if s.ClientState != "" {
		cs := s.ClientState
		n.ClientState = &cs
	}
	var out collection
	if rich {
		rd := RichData{
			ODataID: n.ResourceData.ODataID, ODataType: n.ResourceData.ODataType, ID: c.UserID,
			Availability: c.View.Pair.Availability, Activity: c.View.Pair.Activity,
			OutOfOfficeSettings: c.View.OutOfOffice, SequenceNumber: c.Seq.String(),
		}
		if st := c.View.Status; st != nil {
			rd.StatusMessage = &richStatus{}
			rd.StatusMessage.Message.Content, rd.StatusMessage.Message.ContentType = st.Content, st.ContentType
		}
		plain, err := json.Marshal(rd)
		if err != nil {
			return nil, err
		}
		enc, err := richdata.Encrypt(rs.cert, s.EncryptionCertificateID, plain)
		if err != nil {
			return nil, err
		}
		n.EncryptedContent = &enc
		if m.o.ValidationTokens != nil {
			tok, err := m.o.ValidationTokens(s.TenantID, s.ApplicationID)
			if err != nil {
				return nil, err
			}
			out.ValidationTokens = []string{tok}
		}
	}
	out.Value = []notification{n}
	return json.Marshal(out)
}

// post sends one notification body; 2xx is success.
func (m *Manager) post(ctx context.Context, target string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, m.o.DeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := m.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}
