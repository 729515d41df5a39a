package graphapi

import (
	"net/http"
	"time"

	"github.com/presenced/presenced/clock"
)

// streamDeadline gives the stream's next write (an event or a heartbeat)
// StreamWriteTimeout of its own: the server's WriteTimeout bounds a whole
// response and would end every stream, while a stream must end only when
// its client stops reading. A write that times out fails the connection,
// which ends the stream. Network deadlines are wall-clock instants,
// whatever the server's (movable) clock says.
func (a *API) streamDeadline(rc *http.ResponseController) {
	var dl time.Time
	if a.streamWriteTimeout > 0 {
		dl = clock.Real{}.Now().Add(a.streamWriteTimeout)
	}
	_ = rc.SetWriteDeadline(dl) // not supported (a test's recorder): no bound
}
