// Package reqlog carries the fields that identify one request in the logs:
// its request-id and client-request-id, the route it matched, and the
// tenant and application of its caller once they are known. The access log
// line, a failed request's line and an engine failure's line all carry them,
// so an operator joins them with one request-id. It is a leaf package: the
// HTTP layer and the token issuer note the caller here without knowing
// anything of metrics or of how lines are written.
package reqlog

import (
	"context"
	"log/slog"
	"net/http"
)

// Info is one request's fields. The middleware that starts a request's
// logging makes it; handlers fill in the caller (SetCaller). A request is
// served by one goroutine at a time, so Info needs no lock: it is written
// by the handler and read by the middleware after the handler returned.
type Info struct {
	RequestID       string
	ClientRequestID string
	Method          string
	Tenant          string
	App             string
	req             *http.Request
}

// Bind makes r the request whose route Info reports: the request the
// middleware hands on, on which the ServeMux that routes it sets Pattern.
func (i *Info) Bind(r *http.Request) { i.req = r }

// Route is the ServeMux pattern the request matched ("" before it was
// routed): a route, never the path, which names users.
func (i *Info) Route() string {
	if i.req == nil {
		return ""
	}
	return i.req.Pattern
}

type key struct{}

// With returns ctx carrying info.
func With(ctx context.Context, info *Info) context.Context {
	return context.WithValue(ctx, key{}, info)
}

// Ctx is a context carrying an Info, made to sit inside a value its maker
// allocates anyway (the middleware's response recorder): With's context is
// an allocation of its own on every request, Ctx none. Its Value answers
// From's key with the Info and asks its parent for anything else, so
// contexts derived from it find the parent's cancellation as usual.
type Ctx struct {
	context.Context
	info *Info
}

// Init makes c carry info, over parent.
func (c *Ctx) Init(parent context.Context, info *Info) { c.Context, c.info = parent, info }

// Value is info for From's key, the parent's value for any other.
func (c *Ctx) Value(k any) any {
	if _, ok := k.(key); ok {
		return c.info
	}
	return c.Context.Value(k)
}

// From returns the request's Info, or nil when its logging was not started
// (an embedded handler, a test).
func From(ctx context.Context) *Info {
	i, _ := ctx.Value(key{}).(*Info)
	return i
}

// SetCaller notes who is calling: the tenant and the application (client
// id) of a valid token, or of a token request. Without an Info it does
// nothing.
func SetCaller(ctx context.Context, tenant, app string) {
	if i := From(ctx); i != nil {
		i.Tenant, i.App = tenant, app
	}
}

// Attrs appends the fields of ctx's request that are known to attrs (the
// request-id always, when the request has an Info).
func Attrs(ctx context.Context, attrs []slog.Attr) []slog.Attr {
	i := From(ctx)
	if i == nil {
		return attrs
	}
	return i.Append(attrs)
}

// Append appends the known fields to attrs.
func (i *Info) Append(attrs []slog.Attr) []slog.Attr {
	attrs = append(attrs, slog.String("request_id", i.RequestID))
	for _, f := range [...]struct{ k, v string }{
		{"client_request_id", i.ClientRequestID}, {"method", i.Method}, {"route", i.Route()}, {"tenant", i.Tenant}, {"app", i.App},
	} {
		if f.v != "" {
			attrs = append(attrs, slog.String(f.k, f.v))
		}
	}
	return attrs
}
