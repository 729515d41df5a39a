package subscription

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/presenced/presenced/presence"
)

// CreateRequest is the body of POST /subscriptions as decoded by graphapi
// (strictly: unknown properties are refused there). Absent properties are
// the zero value.
type CreateRequest struct {
	ChangeType                string
	NotificationURL           string
	LifecycleNotificationURL  string
	Resource                  string
	ExpirationDateTime        string
	ClientState               string
	EncryptionCertificate     string
	EncryptionCertificateID   string
	LatestSupportedTLSVersion string
	IncludeResourceData       bool
}

// tlsVersions are the accepted values of latestSupportedTlsVersion.
var tlsVersions = []string{"v1_0", "v1_1", "v1_2", "v1_3"}

// Validate checks r as of now and returns the expiry (in UTC) and the user
// ids of the resource (see ParseResource). Like Graph it reports only the
// first problem, but in a fixed order of fields so that the same request
// always gets the same answer: changeType, notificationUrl,
// lifecycleNotificationUrl, resource, expirationDateTime, clientState,
// includeResourceData with encryptionCertificate and
// encryptionCertificateId, latestSupportedTlsVersion.
//
// The URLs are checked for form only; whether they may be called (https,
// no private addresses) is URLPolicy's business, which needs DNS.
func (r CreateRequest) Validate(now time.Time) (expires time.Time, ids []string, err error) {
	switch {
	case r.ChangeType == "":
		return fail(presence.Errorf(presence.Invalid, "changeType",
			"changeType is required; for presence the only accepted value is '%s'.", ChangeTypeUpdated))
	case r.ChangeType != ChangeTypeUpdated:
		return fail(presence.Errorf(presence.Invalid, "changeType",
			"changeType '%s' is not supported for presence subscriptions; the only accepted value is '%s' (case-sensitive).", presence.Clip(r.ChangeType, 60), ChangeTypeUpdated))
	}
	if r.NotificationURL == "" {
		return fail(presence.Errorf(presence.Invalid, "notificationUrl",
			"notificationUrl is required: the absolute https URL that receives the change notifications."))
	}
	if err := checkURL("notificationUrl", r.NotificationURL); err != nil {
		return fail(err)
	}
	if r.LifecycleNotificationURL != "" {
		if err := checkURL("lifecycleNotificationUrl", r.LifecycleNotificationURL); err != nil {
			return fail(err)
		}
	}
	ids, err = ParseResource(r.Resource)
	if err != nil {
		return fail(err)
	}
	expires, err = parseExpiry(r.ExpirationDateTime, now)
	if err != nil {
		return fail(err)
	}
	if n := utf8.RuneCountInString(r.ClientState); n > MaxClientState {
		return fail(presence.Errorf(presence.Invalid, "clientState",
			"clientState has %d characters; it may have at most %d.", n, MaxClientState))
	}
	if r.IncludeResourceData {
		if err := checkEncryption(r.EncryptionCertificate, r.EncryptionCertificateID); err != nil {
			return fail(err)
		}
	}
	if v := r.LatestSupportedTLSVersion; v != "" && !slices.Contains(tlsVersions, v) {
		return fail(presence.Errorf(presence.Invalid, "latestSupportedTlsVersion",
			"latestSupportedTlsVersion '%s' is not one of %s.", presence.Clip(v, 40), strings.Join(tlsVersions, ", ")))
	}
	return expires, ids, nil
}

func fail(err error) (time.Time, []string, error) { return time.Time{}, nil, err }

// ValidateRenewal checks the expirationDateTime of PATCH /subscriptions/{id}
// by the same rules as creation: required, RFC 3339 with a zone, in the
// future and at most MaxLifetime after now. It returns the expiry in UTC.
func ValidateRenewal(expirationDateTime string, now time.Time) (time.Time, error) {
	return parseExpiry(expirationDateTime, now)
}

// parseExpiry parses and range-checks expirationDateTime.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	latest := now.Add(MaxLifetime)
	if s == "" {
		return time.Time{}, presence.Errorf(presence.Invalid, "expirationDateTime",
			"expirationDateTime is required: an RFC 3339 date-time with Z or an offset, at most %d minutes from now (latest accepted: %s).",
			int(MaxLifetime/time.Minute), presence.FormatDateTime(latest))
	}
	t, err := ParseDateTime(s)
	if err != nil {
		return time.Time{}, err
	}
	if !t.After(now) {
		return time.Time{}, presence.Errorf(presence.Invalid, "expirationDateTime",
			"expirationDateTime '%s' is not in the future (it is now %s); it must be after now and at most %d minutes from now (latest accepted: %s).",
			presence.Clip(s, 40), presence.FormatDateTime(now), int(MaxLifetime/time.Minute), presence.FormatDateTime(latest))
	}
	if t.After(latest) {
		return time.Time{}, presence.Errorf(presence.Invalid, "expirationDateTime",
			"expirationDateTime '%s' is more than %d minutes from now, the maximum lifetime of a presence subscription; the latest accepted is %s. Renew with PATCH before it expires.",
			presence.Clip(s, 40), int(MaxLifetime/time.Minute), presence.FormatDateTime(latest))
	}
	return t.UTC(), nil
}

// ParseDateTime parses an Edm.DateTimeOffset as Graph writes it: RFC 3339,
//
//	YYYY-MM-DDThh:mm:ss[.f…](Z|±hh:mm)
//
// with 1 to 9 fraction digits (Graph sends 7: "2026-09-14T10:00:00.0000000Z")
// and 'T'/'Z' in either case, as RFC 3339 allows. A zone is required: a
// bare local time would be read differently by client and server. The
// shape is checked by hand first because time.Parse also takes forms RFC
// 3339 does not (a ',' before the fraction, more than 9 digits, offsets
// up to ±99:59) and its messages quote Go layouts, not formats a Graph
// developer knows; time.Parse then checks the calendar (Feb 30, hour 24).
//
// A failure is a *presence.Error with Code Invalid, Field
// "expirationDateTime".
func ParseDateTime(s string) (time.Time, error) {
	bad := func(why string) error {
		return presence.Errorf(presence.Invalid, "expirationDateTime",
			"expirationDateTime '%s' is not a valid date-time: %s; expected RFC 3339 such as 2026-09-14T10:00:00Z, 2026-09-14T10:00:00.0000000Z or 2026-09-14T12:00:00+02:00.",
			presence.Clip(s, 40), why)
	}
	digits := func(from, n int) bool {
		if from+n > len(s) {
			return false
		}
		for i := from; i < from+n; i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	at := func(i int, c byte) bool { return i < len(s) && s[i]|0x20 == c|0x20 }
	if !(digits(0, 4) && at(4, '-') && digits(5, 2) && at(7, '-') && digits(8, 2)) {
		return time.Time{}, bad("it must start with a date YYYY-MM-DD")
	}
	if len(s) == 10 {
		return time.Time{}, bad("it has a date but no time")
	}
	if !(at(10, 'T') && digits(11, 2) && at(13, ':') && digits(14, 2) && at(16, ':') && digits(17, 2)) {
		return time.Time{}, bad("the date must be followed by T and a time hh:mm:ss")
	}
	i := 19
	if at(i, '.') {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if n := j - i - 1; n < 1 || n > 9 {
			return time.Time{}, bad("the fraction of a second must have 1 to 9 digits")
		}
		i = j
	}
	switch {
	case i == len(s):
		return time.Time{}, bad("it has no time zone; end it with Z (UTC) or an offset such as +02:00")
	case at(i, 'Z') && i+1 == len(s):
	case (s[i] == '+' || s[i] == '-') && i+6 == len(s) && digits(i+1, 2) && s[i+3] == ':' && digits(i+4, 2):
		if h, _ := strconv.Atoi(s[i+1 : i+3]); h > 23 {
			return time.Time{}, bad("the offset hours must be 00 to 23")
		}
		if m, _ := strconv.Atoi(s[i+4 : i+6]); m > 59 {
			return time.Time{}, bad("the offset minutes must be 00 to 59")
		}
	default:
		return time.Time{}, bad("after the time comes Z or an offset ±hh:mm and nothing else")
	}
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	if err != nil {
		why := err.Error()
		if i := strings.LastIndex(why, ": "); i >= 0 {
			why = why[i+2:] // "month out of range", "day out of range", …
		}
		return time.Time{}, bad(why)
	}
	return t, nil
}

// checkURL applies the form rules of notificationUrl and
// lifecycleNotificationUrl: absolute http(s) URL with a host, no fragment,
// at most MaxURL characters.
func checkURL(field, raw string) error {
	bad := func(why string) error {
		return presence.Errorf(presence.Invalid, field,
			"%s '%s' is not acceptable: %s; it must be an absolute https URL with a host and no fragment, such as https://webhook.contoso.com/api (at most %d characters).",
			field, presence.Clip(raw, 100), why, MaxURL)
	}
	if n := utf8.RuneCountInString(raw); n > MaxURL {
		return presence.Errorf(presence.Invalid, field, "%s has %d characters; it may have at most %d.", field, n, MaxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("it cannot be parsed as a URL")
	}
	switch {
	case u.Scheme == "":
		return bad("it is not absolute (no https://)")
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("scheme '" + presence.Clip(u.Scheme, 20) + "' is not http or https")
	case u.Opaque != "" || u.Hostname() == "":
		return bad("it has no host")
	case strings.Contains(raw, "#"):
		return bad("it has a fragment (#…), which is never sent to the server")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("port " + presence.Clip(p, 10) + " is not 1 to 65535")
		}
	}
	return nil
}

// checkEncryption applies the rules for includeResourceData: a certificate
// and its id are required, and the certificate must be a base64 DER X.509
// certificate with an RSA public key, because the key that encrypts each
// notification is wrapped with RSA-OAEP (graph-presence.md §6.3).
func checkEncryption(cert, id string) error {
	if cert == "" {
		return presence.Errorf(presence.Invalid, "encryptionCertificate",
			"includeResourceData is true, so encryptionCertificate is required: the base64-encoded X.509 certificate whose RSA public key encrypts the resource data (and encryptionCertificateId, your name for it). Set includeResourceData to false for notifications without resource data.")
	}
	if id == "" {
		return presence.Errorf(presence.Invalid, "encryptionCertificateId",
			"includeResourceData is true, so encryptionCertificateId is required: your identifier for encryptionCertificate, echoed in each notification so that you can pick the private key.")
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(cert), ""))
	if err != nil {
		return presence.Errorf(presence.Invalid, "encryptionCertificate",
			"encryptionCertificate is not base64: it must be the base64 encoding of a DER X.509 certificate (a PEM file's body without the BEGIN/END lines).")
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return presence.Errorf(presence.Invalid, "encryptionCertificate",
			"encryptionCertificate is base64 but not an X.509 certificate in DER form: it must be the base64 encoding of a DER X.509 certificate (a PEM file's body without the BEGIN/END lines).")
	}
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
		return presence.Errorf(presence.Invalid, "encryptionCertificate",
			"encryptionCertificate has a %s public key; it must be an RSA key, because resource data keys are encrypted with RSA-OAEP.", c.PublicKeyAlgorithm)
	}
	return nil
}
