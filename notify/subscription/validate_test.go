package subscription

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var now = time.Date(2026, 9, 14, 9, 30, 0, 0, time.UTC)

var certs = sync.OnceValues(func() (rsaCert, ecCert string) {
	mk := func(pub, priv any) string {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "presence-cert-1"},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
		if err != nil {
			panic(err)
		}
		return base64.StdEncoding.EncodeToString(der)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return mk(&rk.PublicKey, rk), mk(&ek.PublicKey, ek)
})

// valid is a request that passes; tests change one thing.
func valid() CreateRequest {
	return CreateRequest{
		ChangeType:               "updated",
		NotificationURL:          "https://webhook.contoso.com/api",
		LifecycleNotificationURL: "https://webhook.contoso.com/lifecycle",
		Resource:                 "/communications/presences?$filter=id in ('" + g1 + "','" + g2 + "')",
		ExpirationDateTime:       "2026-09-14T10:00:00.0000000Z",
		ClientState:              "secret",
	}
}

func TestValidateAcceptsGraphsExample(t *testing.T) {
	rsaCert, _ := certs()
	r := valid()
	r.IncludeResourceData = true
	r.EncryptionCertificate = rsaCert
	r.EncryptionCertificateID = "presence-cert-1"
	r.LatestSupportedTLSVersion = "v1_2"
	exp, ids, err := r.Validate(now)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 9, 14, 10, 0, 0, 0, time.UTC); !exp.Equal(want) || exp.Location() != time.UTC {
		t.Errorf("expires = %v, want %v in UTC", exp, want)
	}
	if !slices.Equal(ids, []string{g1, g2}) {
		t.Errorf("ids = %q", ids)
	}
}

func TestValidateRules(t *testing.T) {
	rsaCert, ecCert := certs()
	tests := []struct {
		name   string
		change func(*CreateRequest)
		field  string // "" when the request is valid
		why    string
	}{
		{"changeType required", func(r *CreateRequest) { r.ChangeType = "" }, "changeType", "changeType is required; for presence the only accepted value is 'updated'"},
		{"changeType must be updated", func(r *CreateRequest) { r.ChangeType = "created" }, "changeType", "'created' is not supported for presence subscriptions; the only accepted value is 'updated'"},
		{"changeType is case-sensitive", func(r *CreateRequest) { r.ChangeType = "Updated" }, "changeType", "only accepted value is 'updated'"},
		{"changeType list not accepted", func(r *CreateRequest) { r.ChangeType = "created,updated" }, "changeType", "only accepted value"},

		{"notificationUrl required", func(r *CreateRequest) { r.NotificationURL = "" }, "notificationUrl", "notificationUrl is required"},
		{"notificationUrl must be absolute", func(r *CreateRequest) { r.NotificationURL = "/api/notify" }, "notificationUrl", "not absolute"},
		{"notificationUrl http or https", func(r *CreateRequest) { r.NotificationURL = "ftp://webhook.contoso.com/api" }, "notificationUrl", "scheme 'ftp' is not http or https"},
		{"notificationUrl http allowed here", func(r *CreateRequest) { r.NotificationURL = "http://webhook.contoso.com/api" }, "", ""},
		{"notificationUrl scheme case-insensitive", func(r *CreateRequest) { r.NotificationURL = "HTTPS://webhook.contoso.com/api" }, "", ""},
		{"notificationUrl query kept", func(r *CreateRequest) { r.NotificationURL = "https://webhook.contoso.com/api?tenant=1" }, "", ""},
		{"notificationUrl needs a host", func(r *CreateRequest) { r.NotificationURL = "https:///api" }, "notificationUrl", "no host"},
		{"notificationUrl port without host", func(r *CreateRequest) { r.NotificationURL = "https://:443/api" }, "notificationUrl", "no host"},
		{"notificationUrl opaque", func(r *CreateRequest) { r.NotificationURL = "https:webhook.contoso.com" }, "notificationUrl", "no host"},
		{"notificationUrl no fragment", func(r *CreateRequest) { r.NotificationURL = "https://webhook.contoso.com/api#x" }, "notificationUrl", "fragment"},
		{"notificationUrl no empty fragment", func(r *CreateRequest) { r.NotificationURL = "https://webhook.contoso.com/api#" }, "notificationUrl", "fragment"},
		{"notificationUrl unparsable", func(r *CreateRequest) { r.NotificationURL = "https://webhook contoso.com/" }, "notificationUrl", "cannot be parsed"},
		{"notificationUrl port range", func(r *CreateRequest) { r.NotificationURL = "https://webhook.contoso.com:70000/" }, "notificationUrl", "port 70000"},
		{"notificationUrl at most 2048 characters", func(r *CreateRequest) {
			r.NotificationURL = "https://webhook.contoso.com/" + strings.Repeat("a", 2048-28)
		}, "", ""},
		{"notificationUrl over 2048 characters", func(r *CreateRequest) {
			r.NotificationURL = "https://webhook.contoso.com/" + strings.Repeat("a", 2049-28)
		}, "notificationUrl", "has 2049 characters; it may have at most 2048"},

		{"lifecycleNotificationUrl optional", func(r *CreateRequest) { r.LifecycleNotificationURL = "" }, "", ""},
		{"lifecycleNotificationUrl same rules", func(r *CreateRequest) { r.LifecycleNotificationURL = "mailto:a@b.c" }, "lifecycleNotificationUrl", "scheme 'mailto'"},
		{"lifecycleNotificationUrl no fragment", func(r *CreateRequest) { r.LifecycleNotificationURL = "https://x.contoso.com/#f" }, "lifecycleNotificationUrl", "fragment"},

		{"resource required", func(r *CreateRequest) { r.Resource = "" }, "resource", "resource is required"},
		{"resource parsed", func(r *CreateRequest) { r.Resource = "/users/" + g1 + "/presence" }, "resource", "/communications/presences/{id}"},

		{"expirationDateTime required", func(r *CreateRequest) { r.ExpirationDateTime = "" }, "expirationDateTime", "expirationDateTime is required"},
		{"expirationDateTime syntax", func(r *CreateRequest) { r.ExpirationDateTime = "tomorrow" }, "expirationDateTime", "not a valid date-time"},
		{"expirationDateTime in the future", func(r *CreateRequest) { r.ExpirationDateTime = "2026-09-14T09:30:00Z" }, "expirationDateTime", "not in the future"},
		{"expirationDateTime at most 60 minutes", func(r *CreateRequest) { r.ExpirationDateTime = "2026-09-14T10:30:00.0000001Z" }, "expirationDateTime", "latest accepted is 2026-09-14T10:30:00.0000000Z"},
		{"expirationDateTime exactly 60 minutes", func(r *CreateRequest) { r.ExpirationDateTime = "2026-09-14T10:30:00Z" }, "", ""},
		{"expirationDateTime with offset", func(r *CreateRequest) { r.ExpirationDateTime = "2026-09-14T12:15:00+02:00" }, "", ""},

		{"clientState optional", func(r *CreateRequest) { r.ClientState = "" }, "", ""},
		{"clientState 128 characters", func(r *CreateRequest) { r.ClientState = strings.Repeat("é", 128) }, "", ""},
		{"clientState at most 128 characters", func(r *CreateRequest) { r.ClientState = strings.Repeat("x", 129) }, "clientState", "has 129 characters; it may have at most 128"},

		{"includeResourceData requires encryptionCertificate", func(r *CreateRequest) {
			r.IncludeResourceData = true
			r.EncryptionCertificateID = "c1"
		}, "encryptionCertificate", "includeResourceData is true, so encryptionCertificate is required"},
		{"includeResourceData requires encryptionCertificateId", func(r *CreateRequest) {
			r.IncludeResourceData = true
			r.EncryptionCertificate = rsaCert
		}, "encryptionCertificateId", "includeResourceData is true, so encryptionCertificateId is required"},
		{"encryptionCertificate must be base64", func(r *CreateRequest) {
			r.IncludeResourceData, r.EncryptionCertificate, r.EncryptionCertificateID = true, "not base64!", "c1"
		}, "encryptionCertificate", "not base64"},
		{"encryptionCertificate must be X.509", func(r *CreateRequest) {
			r.IncludeResourceData, r.EncryptionCertificate, r.EncryptionCertificateID = true, "aGVsbG8=", "c1"
		}, "encryptionCertificate", "not an X.509 certificate"},
		{"encryptionCertificate must have an RSA key", func(r *CreateRequest) {
			r.IncludeResourceData, r.EncryptionCertificate, r.EncryptionCertificateID = true, ecCert, "c1"
		}, "encryptionCertificate", "ECDSA public key; it must be an RSA key"},
		{"encryptionCertificate may be wrapped", func(r *CreateRequest) {
			r.IncludeResourceData, r.EncryptionCertificate, r.EncryptionCertificateID = true, rsaCert[:64]+"\n"+rsaCert[64:], "c1"
		}, "", ""},
		{"encryption ignored without includeResourceData", func(r *CreateRequest) { r.EncryptionCertificate = "junk" }, "", ""},

		{"latestSupportedTlsVersion optional", func(r *CreateRequest) { r.LatestSupportedTLSVersion = "" }, "", ""},
		{"latestSupportedTlsVersion v1_3", func(r *CreateRequest) { r.LatestSupportedTLSVersion = "v1_3" }, "", ""},
		{"latestSupportedTlsVersion one of the four", func(r *CreateRequest) { r.LatestSupportedTLSVersion = "1.2" }, "latestSupportedTlsVersion", "'1.2' is not one of v1_0, v1_1, v1_2, v1_3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.change(&r)
			exp, ids, err := r.Validate(now)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if exp.IsZero() || len(ids) == 0 {
					t.Fatalf("Validate = %v, %q", exp, ids)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", r)
			}
			if !exp.IsZero() || ids != nil {
				t.Errorf("Validate failed but returned %v, %q", exp, ids)
			}
			wantInvalid(t, err, tt.field, tt.why)
		})
	}
}

// Graph reports one problem; presenced reports the first in a fixed field
// order so that a request always gets the same answer.
func TestValidateReportsFirstProblemInFieldOrder(t *testing.T) {
	r := CreateRequest{
		ChangeType:                "deleted",
		NotificationURL:           "ftp://x",
		LifecycleNotificationURL:  "ftp://y",
		Resource:                  "/users",
		ExpirationDateTime:        "yesterday",
		ClientState:               strings.Repeat("x", 200),
		IncludeResourceData:       true,
		LatestSupportedTLSVersion: "v9",
	}
	order := []struct {
		field string
		fix   func(*CreateRequest)
	}{
		{"changeType", func(r *CreateRequest) { r.ChangeType = "updated" }},
		{"notificationUrl", func(r *CreateRequest) { r.NotificationURL = "https://x.contoso.com" }},
		{"lifecycleNotificationUrl", func(r *CreateRequest) { r.LifecycleNotificationURL = "" }},
		{"resource", func(r *CreateRequest) { r.Resource = "communications/presences/" + g1 }},
		{"expirationDateTime", func(r *CreateRequest) { r.ExpirationDateTime = "2026-09-14T10:00:00Z" }},
		{"clientState", func(r *CreateRequest) { r.ClientState = "" }},
		{"encryptionCertificate", func(r *CreateRequest) { r.EncryptionCertificate, _ = certs() }},
		{"encryptionCertificateId", func(r *CreateRequest) { r.EncryptionCertificateID = "c1" }},
		{"latestSupportedTlsVersion", func(r *CreateRequest) { r.LatestSupportedTLSVersion = "v1_2" }},
	}
	for _, o := range order {
		_, _, err := r.Validate(now)
		wantInvalid(t, err, o.field)
		o.fix(&r)
	}
	if _, _, err := r.Validate(now); err != nil {
		t.Fatalf("all fixed: %v", err)
	}
}

func TestParseDateTimeForms(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time // zero: rejected
		why  string
	}{
		{"2026-09-14T10:00:00Z", time.Date(2026, 9, 14, 10, 0, 0, 0, time.UTC), ""},
		{"2026-09-14T10:00:00.0000000Z", time.Date(2026, 9, 14, 10, 0, 0, 0, time.UTC), ""},
		{"2026-09-14T10:00:00.1234567Z", time.Date(2026, 9, 14, 10, 0, 0, 123456700, time.UTC), ""},
		{"2026-09-14T10:00:00.123456789Z", time.Date(2026, 9, 14, 10, 0, 0, 123456789, time.UTC), ""},
		{"2026-09-14T10:00:00.5+02:00", time.Date(2026, 9, 14, 8, 0, 0, 5e8, time.UTC), ""},
		{"2026-09-14T10:00:00-05:30", time.Date(2026, 9, 14, 15, 30, 0, 0, time.UTC), ""},
		{"2026-09-14t10:00:00z", time.Date(2026, 9, 14, 10, 0, 0, 0, time.UTC), ""},
		{"2026-09-14T10:00:00", time.Time{}, "no time zone; end it with Z"},
		{"2026-09-14T10:00:00.0000000", time.Time{}, "no time zone"},
		{"2026-09-14", time.Time{}, "has a date but no time"},
		{"14/09/2026 10:00", time.Time{}, "must start with a date YYYY-MM-DD"},
		{"2026-09-14 10:00:00Z", time.Time{}, "followed by T and a time"},
		{"2026-09-14T10:00Z", time.Time{}, "followed by T and a time"},
		{"2026-09-14T10:00:00.Z", time.Time{}, "1 to 9 digits"},
		{"2026-09-14T10:00:00,5Z", time.Time{}, "after the time comes Z or an offset"},
		{"2026-09-14T10:00:00.1234567890Z", time.Time{}, "1 to 9 digits"},
		{"2026-09-14T10:00:00+0200", time.Time{}, "after the time comes Z or an offset"},
		{"2026-09-14T10:00:00+24:00", time.Time{}, "offset hours must be 00 to 23"},
		{"2026-09-14T10:00:00+02:60", time.Time{}, "offset minutes must be 00 to 59"},
		{"2026-09-14T10:00:00Z ", time.Time{}, "nothing else"},
		{"2026-02-30T10:00:00Z", time.Time{}, "day out of range"},
		{"2026-09-14T24:00:00Z", time.Time{}, "hour out of range"},
		{"2026-09-14T10:00:60Z", time.Time{}, "second out of range"},
		{"2026-13-14T10:00:00Z", time.Time{}, "month out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDateTime(tt.in)
			if tt.why == "" {
				if err != nil || !got.Equal(tt.want) {
					t.Fatalf("ParseDateTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
				}
				return
			}
			wantInvalid(t, err, "expirationDateTime", tt.why, "expected RFC 3339 such as 2026-09-14T10:00:00Z")
		})
	}
}

func TestValidateRenewalSameExpiryRules(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
		why      string
	}{
		{"required", "", false, "expirationDateTime is required"},
		{"one minute", "2026-09-14T09:31:00Z", true, ""},
		{"one nanosecond", "2026-09-14T09:30:00.000000001Z", true, ""},
		{"now is not the future", "2026-09-14T09:30:00Z", false, "not in the future (it is now 2026-09-14T09:30:00.0000000Z)"},
		{"past", "2026-09-14T08:00:00Z", false, "not in the future"},
		{"60 minutes", "2026-09-14T10:30:00Z", true, ""},
		{"61 minutes", "2026-09-14T10:31:00Z", false, "more than 60 minutes from now"},
		{"far future", "2027-01-01T00:00:00Z", false, "the latest accepted is 2026-09-14T10:30:00.0000000Z"},
		{"offset counted", "2026-09-14T12:31:00+02:00", false, "more than 60 minutes"},
		{"no zone", "2026-09-14T10:00:00", false, "no time zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateRenewal(tt.in, now)
			if tt.ok {
				if err != nil || !got.After(now) || got.After(now.Add(MaxLifetime)) || got.Location() != time.UTC {
					t.Fatalf("ValidateRenewal(%q) = %v, %v", tt.in, got, err)
				}
				return
			}
			if !got.IsZero() {
				t.Errorf("failed but returned %v", got)
			}
			wantInvalid(t, err, "expirationDateTime", tt.why)
		})
	}
}

func TestSubscriptionExpired(t *testing.T) {
	s := Subscription{ExpirationDateTime: now}
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{
		{now.Add(-time.Nanosecond), false},
		{now, true},
		{now.Add(time.Minute), true},
	} {
		if got := s.Expired(tt.at); got != tt.want {
			t.Errorf("Expired(%v) = %v, want %v", tt.at, got, tt.want)
		}
	}
}

func TestSubscriptionReauthorizeAt(t *testing.T) {
	tests := []struct {
		name             string
		created, expires time.Time
		want             time.Time
	}{
		{"ten minutes before expiry", now, now.Add(60 * time.Minute), now.Add(50 * time.Minute)},
		{"exactly ten minutes of life", now, now.Add(10 * time.Minute), now},
		{"short life: at creation", now, now.Add(3 * time.Minute), now},
		{"renewed: moves with expiry", now.Add(-2 * time.Hour), now.Add(30 * time.Minute), now.Add(20 * time.Minute)},
		{"zero CreatedAt", time.Time{}, now, now.Add(-10 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Subscription{CreatedAt: tt.created, ExpirationDateTime: tt.expires}
			if got := s.ReauthorizeAt(); !got.Equal(tt.want) {
				t.Fatalf("ReauthorizeAt = %v, want %v", got, tt.want)
			}
		})
	}
}
