package graphapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/notify"
	"github.com/presenced/presenced/notify/subscription"
	"github.com/presenced/presenced/presence"
)

// Subscriptions keeps Graph change-notification subscriptions.
type Subscriptions interface {
	Create(ctx context.Context, owner notify.Owner, s subscription.Subscription) (subscription.Subscription, error)
	Get(ctx context.Context, owner notify.Owner, id string) (subscription.Subscription, error)
	List(ctx context.Context, owner notify.Owner) ([]subscription.Subscription, error)
	Renew(ctx context.Context, owner notify.Owner, id string, exp time.Time) (subscription.Subscription, error)
	Delete(ctx context.Context, owner notify.Owner, id string) error
}

// subscriptionJSON is Graph's subscription resource on the wire.
type subscriptionJSON struct {
	Context                   string  `json:"@odata.context,omitempty"`
	ID                        string  `json:"id"`
	Resource                  string  `json:"resource"`
	ApplicationID             string  `json:"applicationId"`
	ChangeType                string  `json:"changeType"`
	ClientState               *string `json:"clientState"`
	NotificationURL           string  `json:"notificationUrl"`
	NotificationQueryOptions  *string `json:"notificationQueryOptions"`
	LifecycleNotificationURL  *string `json:"lifecycleNotificationUrl"`
	ExpirationDateTime        string  `json:"expirationDateTime"`
	CreatorID                 string  `json:"creatorId"`
	IncludeResourceData       bool    `json:"includeResourceData"`
	LatestSupportedTLSVersion string  `json:"latestSupportedTlsVersion"`
	EncryptionCertificate     *string `json:"encryptionCertificate"`
	EncryptionCertificateID   *string `json:"encryptionCertificateId"`
	NotificationURLAppID      *string `json:"notificationUrlAppId"`
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func renderSubscription(s subscription.Subscription) subscriptionJSON {
	tls := s.LatestSupportedTLSVersion
	if tls == "" {
		tls = "v1_2"
	}
	return subscriptionJSON{
		ID: s.ID, Resource: s.Resource, ApplicationID: s.ApplicationID, ChangeType: s.ChangeType,
		ClientState: orNull(s.ClientState), NotificationURL: s.NotificationURL,
		LifecycleNotificationURL: orNull(s.LifecycleNotificationURL),
		ExpirationDateTime:       presence.FormatDateTime(s.ExpirationDateTime), CreatorID: s.CreatorID,
		IncludeResourceData: s.IncludeResourceData, LatestSupportedTLSVersion: tls,
		EncryptionCertificate: orNull(s.EncryptionCertificate), EncryptionCertificateID: orNull(s.EncryptionCertificateID),
	}
}

// subscriber authenticates and authorises a subscription request: presence
// subscriptions are delegated only (Presence.Read.All).
func (a *API) subscriber(r *http.Request) (auth.Principal, notify.Owner, error) {
	p, err := a.principal(r)
	if err != nil {
		return p, notify.Owner{}, err
	}
	if a.subs == nil {
		return p, notify.Owner{}, errBody(http.StatusNotImplemented, "notImplemented", "Change notifications are not enabled on this server.")
	}
	if err := auth.Authorize(p, auth.Subscribe, "", false); err != nil {
		return p, notify.Owner{}, err
	}
	return p, notify.Owner{TenantID: p.TenantID, AppID: p.ClientID, UserID: p.UserID}, nil
}

// createSubscription serves POST /subscriptions.
func (a *API) createSubscription(w http.ResponseWriter, r *http.Request) {
	p, owner, err := a.subscriber(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var req subscription.CreateRequest
	var ignored string
	err = decodeBody(r, a.maxBody, "subscription", false,
		param{"changeType", &req.ChangeType}, param{"notificationUrl", &req.NotificationURL},
		param{"lifecycleNotificationUrl", &req.LifecycleNotificationURL}, param{"resource", &req.Resource},
		param{"expirationDateTime", &req.ExpirationDateTime}, param{"clientState", &req.ClientState},
		param{"includeResourceData", &req.IncludeResourceData}, param{"encryptionCertificate", &req.EncryptionCertificate},
		param{"encryptionCertificateId", &req.EncryptionCertificateID}, param{"latestSupportedTlsVersion", &req.LatestSupportedTLSVersion},
		param{"notificationQueryOptions", &ignored}, param{"notificationUrlAppId", &ignored})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	exp, ids, err := req.Validate(a.clock.Now())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	s := subscription.Subscription{
		Resource: req.Resource, ChangeType: req.ChangeType, NotificationURL: req.NotificationURL,
		LifecycleNotificationURL: req.LifecycleNotificationURL, ClientState: req.ClientState, ExpirationDateTime: exp,
		IncludeResourceData: req.IncludeResourceData, EncryptionCertificate: req.EncryptionCertificate,
		EncryptionCertificateID: req.EncryptionCertificateID, LatestSupportedTLSVersion: req.LatestSupportedTLSVersion,
	}
	for _, id := range ids {
		u, err := a.lookup(p, "resource", id)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		s.UserIDs = append(s.UserIDs, u.ID)
		s.UserTenantIDs = append(s.UserTenantIDs, u.TenantID)
	}
	s, err = a.subs.Create(r.Context(), owner, s)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := renderSubscription(s)
	out.Context = a.serviceRoot(r, "/$metadata#subscriptions/$entity")
	w.Header().Set("Location", a.serviceRoot(r, "/subscriptions/", s.ID))
	writeJSON(w, http.StatusCreated, out)
}

// subscriptionItem serves GET, PATCH and DELETE /subscriptions/{id}.
func (a *API) subscriptionItem(w http.ResponseWriter, r *http.Request) {
	_, owner, err := a.subscriber(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	var s subscription.Subscription
	switch r.Method {
	case http.MethodGet:
		s, err = a.subs.Get(r.Context(), owner, id)
	case http.MethodDelete:
		if err = a.subs.Delete(r.Context(), owner, id); err == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	case http.MethodPatch:
		var exp string
		if err = decodeBody(r, a.maxBody, "subscription renewal", false, param{"expirationDateTime", &exp}); err != nil {
			break
		}
		if strings.TrimSpace(exp) == "" {
			err = presence.Errorf(presence.Invalid, "expirationDateTime", "Property 'expirationDateTime' is required to renew a subscription (at most 60 minutes ahead).")
			break
		}
		var t time.Time
		if t, err = subscription.ValidateRenewal(exp, a.clock.Now()); err == nil {
			s, err = a.subs.Renew(r.Context(), owner, id, t)
		}
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := renderSubscription(s)
	out.Context = a.serviceRoot(r, "/$metadata#subscriptions/$entity")
	writeJSON(w, http.StatusOK, out)
}

// listSubscriptions serves GET /subscriptions: the caller's own.
func (a *API) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	_, owner, err := a.subscriber(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	list, err := a.subs.List(r.Context(), owner)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := struct {
		Context string             `json:"@odata.context"`
		Value   []subscriptionJSON `json:"value"`
	}{Context: a.serviceRoot(r, "/$metadata#subscriptions"), Value: make([]subscriptionJSON, len(list))}
	for i, s := range list {
		out.Value[i] = renderSubscription(s)
	}
	writeJSON(w, http.StatusOK, out)
}
