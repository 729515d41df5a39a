package graphapi

import (
	"net/http"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
)

// presenceJSON is Graph's presence entity on the wire.
type presenceJSON struct {
	Context             string                       `json:"@odata.context,omitempty"`
	ID                  string                       `json:"id"`
	Availability        string                       `json:"availability"`
	Activity            string                       `json:"activity"`
	StatusMessage       *statusMessageJSON           `json:"statusMessage"`
	OutOfOfficeSettings presence.OutOfOfficeSettings `json:"outOfOfficeSettings"`
	SequenceNumber      string                       `json:"sequenceNumber"`
	WorkLocation        presence.WorkLocation        `json:"workLocation"`
}

type itemBody struct {
	Content     string `json:"content"`
	ContentType string `json:"contentType"`
}

type statusMessageJSON struct {
	Message           itemBody                   `json:"message"`
	ExpiryDateTime    *presence.DateTimeTimeZone `json:"expiryDateTime,omitempty"`
	PublishedDateTime string                     `json:"publishedDateTime,omitempty"`
}

// render shapes a snapshot for a reader. Only the owner sees when their
// status message expires and when it was published (semantics §3.6).
func render(s core.Snapshot, owner bool) presenceJSON {
	v := s.View
	out := presenceJSON{
		ID:                  s.User.UserID,
		Availability:        v.Pair.Availability,
		Activity:            v.Pair.Activity,
		OutOfOfficeSettings: v.OutOfOffice,
		SequenceNumber:      s.Seq.String(),
		WorkLocation:        v.WorkLocation,
	}
	if m := v.Status; m != nil {
		out.StatusMessage = &statusMessageJSON{Message: itemBody{Content: m.Content, ContentType: m.ContentType}}
		if owner {
			out.StatusMessage.ExpiryDateTime = m.Expiry
			out.StatusMessage.PublishedDateTime = presence.FormatDateTime(m.PublishedAt)
		}
	}
	return out
}

// serviceRoot is the URL prefix of @odata.context: this server's own
// address and API version, as Graph uses https://graph.microsoft.com/v1.0.
func serviceRoot(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	version := "v1.0"
	if len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/beta" {
		version = "beta"
	}
	return scheme + "://" + r.Host + "/" + version
}
