package graphapi

import (
	"context"
	"net"
	"net/http/httptest"
	"testing"
)

type bufferedConn struct {
	net.Conn
	sndbuf int
}

func (c *bufferedConn) SetWriteBuffer(n int) error { c.sndbuf = n; return nil }

// wrappedConn hides the connection's methods, as a listener's wrapper does,
// and gives it back with NetConn, as crypto/tls does.
type wrappedConn struct{ net.Conn }

func (c wrappedConn) NetConn() net.Conn { return c.Conn }

type opaqueConn struct{ net.Conn }

// A stream's socket gets a small send buffer, found through the wrappers
// that give their connection (NetConn); a connection that cannot say is
// left alone.
func TestStreamSendBufferThroughWrappers(t *testing.T) {
	for _, c := range []struct {
		name string
		wrap func(*bufferedConn) net.Conn
		want int
	}{
		{"the connection itself", func(b *bufferedConn) net.Conn { return b }, streamSendBuffer},
		{"wrapped twice", func(b *bufferedConn) net.Conn { return wrappedConn{wrappedConn{b}} }, streamSendBuffer},
		{"a wrapper that hides it", func(b *bufferedConn) net.Conn { return opaqueConn{b} }, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := &bufferedConn{}
			r := httptest.NewRequest("GET", StreamPath, nil)
			r = r.WithContext(ConnContext(context.Background(), c.wrap(b)))
			limitSendBuffer(r)
			if b.sndbuf != c.want {
				t.Fatalf("send buffer %d, want %d", b.sndbuf, c.want)
			}
		})
	}
}
