package graphapi

import (
	"net/http"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/directory"
)

// mailboxCall is the shape every calendar, mailbox-settings and work-plan
// handler shares: resolve and authorise the user for op (mailboxUser), run
// call (decode the body, then read or write the mailbox), and answer its
// result with reply or its error Graph-style. call decodes before it
// writes, so a body that does not decode writes nothing.
func mailboxCall[T any](a *API, kind subjectKind, op auth.Operation, call func(r *http.Request, u directory.User) (T, error), reply func(w http.ResponseWriter, r *http.Request, u directory.User, v T)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, _, ok := a.mailboxUser(w, r, kind, op)
		if !ok {
			return
		}
		v, err := call(r, u)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		reply(w, r, u, v)
	}
}

// mailboxDelete serves a DELETE: 204 No Content once del has removed the
// item named by the path value key.
func mailboxDelete(a *API, kind subjectKind, op auth.Operation, key string, del func(r *http.Request, u directory.User, id string) error) http.HandlerFunc {
	return mailboxCall(a, kind, op, func(r *http.Request, u directory.User) (struct{}, error) {
		return struct{}{}, del(r, u, r.PathValue(key))
	}, func(w http.ResponseWriter, _ *http.Request, _ directory.User, _ struct{}) {
		w.WriteHeader(http.StatusNoContent)
	})
}

// answer adapts a writer of one item with a status to mailboxCall's reply.
func answer[T any](write func(http.ResponseWriter, *http.Request, directory.User, int, T), status int) func(http.ResponseWriter, *http.Request, directory.User, T) {
	return func(w http.ResponseWriter, r *http.Request, u directory.User, v T) {
		write(w, r, u, status, v)
	}
}
