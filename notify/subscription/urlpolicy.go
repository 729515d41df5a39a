package subscription

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"

	"github.com/presenced/presenced/presence"
)

// Resolver resolves host names; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// URLPolicy decides which notification URLs presenced may call. Webhook
// URLs come from API clients, so without a policy any client could make
// the server send requests into the network it runs in (SSRF): to its own
// admin ports, to a cloud metadata service at 169.254.169.254, to hosts
// behind the firewall.
//
// The zero value is the strictest useful policy minus https: set
// RequireHTTPS outside dev mode.
type URLPolicy struct {
	// RequireHTTPS refuses http URLs (dev mode allows them).
	RequireHTTPS bool
	// AllowPrivate lets URLs point at loopback, private, link-local and
	// other internal addresses (--allow-private-webhooks), for operators
	// whose receivers run on their own network.
	AllowPrivate bool
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
}

func (p URLPolicy) resolver() Resolver {
	if p.Resolver == nil {
		return net.DefaultResolver
	}
	return p.Resolver
}

// Check decides whether raw, the value of field (notificationUrl or
// lifecycleNotificationUrl), may be called, at subscription time. With
// RequireHTTPS the scheme must be https. Unless AllowPrivate the host is
// resolved (an IP literal is taken as is) and refused if any of its
// addresses is internal (see blockedReason): any, not all, because a
// client connects to whichever address it likes.
//
// Check alone does not stop DNS rebinding (a name that resolves to a
// public address now and to 127.0.0.1 at delivery): deliveries must dial
// through Dialer, which checks again at connect time.
//
// Failures are *presence.Error with Code Invalid and Field field.
func (p URLPolicy) Check(ctx context.Context, field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return presence.Errorf(presence.Invalid, field, "%s '%s' is not an absolute URL with a host.", field, presence.Clip(raw, 100))
	}
	if p.RequireHTTPS && u.Scheme != "https" {
		return presence.Errorf(presence.Invalid, field,
			"%s '%s' must use https; plain http is accepted only when the server runs in dev mode (--dev).", field, presence.Clip(raw, 100))
	}
	if p.AllowPrivate {
		return nil
	}
	host := u.Hostname()
	addrs, err := p.lookup(ctx, "ip", host)
	if err != nil {
		why := "DNS lookup failed"
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			why = "no such host"
		}
		if errors.Is(err, errNoAddresses) {
			why = "it has no addresses"
		}
		return presence.Errorf(presence.Invalid, field,
			"%s '%s': cannot resolve host '%s' (%s); the host must resolve to a public address.", field, presence.Clip(raw, 100), presence.Clip(host, 80), why)
	}
	for _, a := range addrs {
		if why, bad := blockedReason(a); bad {
			via := "resolves to"
			if _, err := netip.ParseAddr(host); err == nil {
				via = "points at"
			}
			return presence.Errorf(presence.Invalid, field,
				"%s '%s' %s %s, %s; notifications are not sent to loopback, private, link-local, CGNAT, multicast, reserved or unspecified addresses. An operator whose receivers run on a private network can allow them in the server configuration (--allow-private-webhooks).",
				field, presence.Clip(raw, 100), via, a, why)
		}
	}
	return nil
}

var errNoAddresses = errors.New("no addresses")

// lookup returns the addresses of host: the address itself for an IP
// literal (zone and all), else what the resolver says.
func (p URLPolicy) lookup(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	addrs, err := p.resolver().LookupNetIP(ctx, network, host)
	if err == nil && len(addrs) == 0 {
		err = errNoAddresses
	}
	return addrs, err
}

// Dialer wraps base (nil means a zero net.Dialer) into a DialContext for
// the http.Transport that delivers notifications. Unless AllowPrivate it
// resolves the host itself, refuses the connection if any address is
// internal, and dials the checked addresses (in the resolver's order, one
// after another) by IP, so that what was checked is what is connected to:
// a DNS answer that changed since Check (DNS rebinding) is caught here.
//
// The transport must not use a proxy (Proxy: nil): through a proxy the
// dialed address is the proxy's, and the target is never checked.
//
// A refused connection fails with a *presence.Error with Code Forbidden
// (the http.Client wraps it in a *url.Error; errors.As finds it).
func (p URLPolicy) Dialer(base *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if base == nil {
		base = &net.Dialer{}
	}
	if p.AllowPrivate {
		return base.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var ipNetwork string
		switch network {
		case "tcp":
			ipNetwork = "ip"
		case "tcp4":
			ipNetwork = "ip4"
		case "tcp6":
			ipNetwork = "ip6"
		default:
			return nil, presence.Errorf(presence.Forbidden, "", "refusing to dial %s %s: notifications are sent over tcp only", network, addr)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		addrs, err := p.lookup(ctx, ipNetwork, host)
		if err != nil {
			return nil, fmt.Errorf("cannot resolve host %q: %w", host, err)
		}
		for _, a := range addrs {
			if why, bad := blockedReason(a); bad {
				return nil, presence.Errorf(presence.Forbidden, "",
					"refusing to connect to %s (%s): it is %s; allow private webhook targets in the server configuration (--allow-private-webhooks) if this is intended", host, a, why)
			}
		}
		var first error
		for _, a := range addrs {
			if a.Is4In6() {
				a = a.Unmap()
			}
			c, err := base.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return c, nil
			}
			if first == nil {
				first = err
			}
			if ctx.Err() != nil {
				break
			}
		}
		return nil, first
	}
}

// A blocked range and why.
type blockedRange struct {
	prefix netip.Prefix
	why    string
}

var blockedRanges = func() []blockedRange {
	list := []struct{ cidr, why string }{
		{"0.0.0.0/8", "an unspecified ('this network') address"},
		{"10.0.0.0/8", "a private address (RFC 1918)"},
		{"100.64.0.0/10", "a carrier-grade NAT address (100.64.0.0/10, RFC 6598)"},
		{"127.0.0.0/8", "a loopback address"},
		{"169.254.0.0/16", "a link-local address (169.254.0.0/16, where cloud metadata services live)"},
		{"172.16.0.0/12", "a private address (RFC 1918)"},
		{"192.168.0.0/16", "a private address (RFC 1918)"},
		{"224.0.0.0/4", "a multicast address"},
		{"240.0.0.0/4", "a reserved or broadcast address"},
		{"::/128", "the unspecified address"},
		{"::1/128", "the loopback address"},
		{"fc00::/7", "a private (unique local, fc00::/7) address"},
		{"fe80::/10", "a link-local address (fe80::/10)"},
		{"fec0::/10", "a site-local address (fec0::/10, deprecated but routed internally)"},
		{"ff00::/8", "a multicast address"},
	}
	out := make([]blockedRange, len(list))
	for i, r := range list {
		out[i] = blockedRange{netip.MustParsePrefix(r.cidr), r.why}
	}
	return out
}()

// IPv6 prefixes that embed an IPv4 address in their last 32 bits (or, for
// 6to4, in bits 16–47): the embedded address is checked as IPv4, since a
// host or gateway may turn the packet into IPv4 to it.
var (
	mapped     = netip.MustParsePrefix("::ffff:0:0/96")
	compatible = netip.MustParsePrefix("::/96")
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour  = netip.MustParsePrefix("2002::/16")
)

// blockedReason reports whether a is an address notifications may not be
// sent to, and why, in words for a message: loopback, private (RFC 1918,
// fc00::/7), link-local (169.254/16, fe80::/10), unspecified, multicast,
// CGNAT (100.64/10), reserved (240/4, broadcast), deprecated site-local,
// and the same IPv4 ranges inside IPv4-mapped, IPv4-compatible, NAT64 and
// 6to4 IPv6 addresses.
func blockedReason(a netip.Addr) (string, bool) {
	a = a.WithZone("")
	if !a.IsValid() {
		return "not a valid address", true
	}
	if a.Is6() {
		b := a.As16()
		var embedded netip.Addr
		var form string
		switch {
		case mapped.Contains(a):
			embedded, form = netip.AddrFrom4([4]byte(b[12:16])), "IPv4-mapped"
		case nat64.Contains(a):
			embedded, form = netip.AddrFrom4([4]byte(b[12:16])), "NAT64"
		case sixToFour.Contains(a):
			embedded, form = netip.AddrFrom4([4]byte(b[2:6])), "6to4"
		case compatible.Contains(a) && a != netip.IPv6Unspecified() && a != netip.IPv6Loopback():
			embedded, form = netip.AddrFrom4([4]byte(b[12:16])), "IPv4-compatible"
		}
		if embedded.IsValid() {
			if why, bad := blockedReason(embedded); bad {
				return fmt.Sprintf("the %s form of %s, %s", form, embedded, why), true
			}
			return "", false
		}
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(a) {
			return r.why, true
		}
	}
	return "", false
}
