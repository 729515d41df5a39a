// Package subscription is the pure domain of Microsoft Graph presence
// subscriptions (graph-presence.md §6): what a subscription is, which
// create and renew requests are valid, and which notification URLs may be
// called (urlpolicy.go). It does no HTTP serving and no storage, and never
// reads the clock: every function that needs the time takes now.
//
// Every rejection is a *presence.Error with Code Invalid (Forbidden for a
// refused connection), Field set to the JSON property at fault, and a
// message for the developer that names the accepted values.
package subscription

import (
	"time"

	"github.com/presenced/presenced/presence"
)

// Limits of presence subscriptions (graph-presence.md §6.1, §6.2).
const (
	// MaxLifetime is the longest a presence subscription may live before it
	// must be renewed: expirationDateTime is at most now + MaxLifetime.
	MaxLifetime = 60 * time.Minute
	// MaxIDs is the most ids one subscription resource may name, every
	// entry counted (presence.CheckIDCount).
	MaxIDs = presence.MaxIDs
	// MaxClientState is the longest clientState, in characters.
	MaxClientState = 128
	// MaxURL is the longest notificationUrl or lifecycleNotificationUrl,
	// in characters.
	MaxURL = 2048
	// ReauthorizeLead is how long before expiry the reauthorizationRequired
	// lifecycle notification is due; see Subscription.ReauthorizeAt.
	ReauthorizeLead = 10 * time.Minute
)

// ChangeTypeUpdated is the only changeType presence supports.
const ChangeTypeUpdated = "updated"

// Subscription is a stored presence subscription.
type Subscription struct {
	ID                        string    `json:"id"`
	TenantID                  string    `json:"tenantId"`
	ApplicationID             string    `json:"applicationId"` // client id of the creating app
	CreatorID                 string    `json:"creatorId"`     // object id of the signed-in user who created it
	Resource                  string    `json:"resource"`      // as given
	UserIDs                   []string  `json:"userIds"`       // the presence ids it covers, resolved by the caller to object ids
	UserTenantIDs             []string  `json:"userTenantIds"` // the tenant of each of UserIDs (another tenant only under mutual trust)
	ChangeType                string    `json:"changeType"`
	NotificationURL           string    `json:"notificationUrl"`
	LifecycleNotificationURL  string    `json:"lifecycleNotificationUrl,omitempty"`
	ClientState               string    `json:"clientState,omitempty"`
	ExpirationDateTime        time.Time `json:"expirationDateTime"`
	IncludeResourceData       bool      `json:"includeResourceData"`
	EncryptionCertificate     string    `json:"encryptionCertificate,omitempty"`
	EncryptionCertificateID   string    `json:"encryptionCertificateId,omitempty"`
	LatestSupportedTLSVersion string    `json:"latestSupportedTlsVersion,omitempty"`
	CreatedAt                 time.Time `json:"createdAt"`
}

// Expired reports whether s no longer delivers notifications at now: a
// subscription lives up to, but not including, its expirationDateTime.
func (s Subscription) Expired(now time.Time) bool {
	return !now.Before(s.ExpirationDateTime)
}

// ReauthorizeAt is when the reauthorizationRequired lifecycle notification
// (the only lifecycle event presence has, §6.1) is due:
// ReauthorizeLead (10 minutes) before expiry, but never before CreatedAt.
//
// Why 10 minutes: with a 60-minute maximum lifetime the client then has a
// sixth of the lifetime to PATCH a new expirationDateTime, enough to ride
// out a slow or retried delivery (Graph retries deliveries, and a receiver
// has 3 s to answer), yet late enough that a client renewing on its own
// schedule usually never sees the notification. A subscription created to
// live less than 10 minutes is due at once (CreatedAt): the client asked
// for a short life, and telling it immediately is the only way to tell it
// at all before expiry. Renewing moves ExpirationDateTime and so this
// instant; the caller sends at most one notification per expiry.
func (s Subscription) ReauthorizeAt() time.Time {
	at := s.ExpirationDateTime.Add(-ReauthorizeLead)
	if at.Before(s.CreatedAt) {
		return s.CreatedAt
	}
	return at
}
