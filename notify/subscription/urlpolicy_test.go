package subscription

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/presenced/presenced/presence"
)

// fakeResolver answers from a table; a host with several answers gives
// them in turn (the last one repeats), which is how DNS rebinding looks.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][][]string
	calls   map[string]int
}

func newResolver(answers map[string][][]string) *fakeResolver {
	return &fakeResolver{answers: answers, calls: map[string]int{}}
}

func (r *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq, ok := r.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	n := r.calls[host]
	r.calls[host]++
	if n >= len(seq) {
		n = len(seq) - 1
	}
	var out []netip.Addr
	for _, s := range seq[n] {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

const public4, public6 = "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"

func TestURLPolicyBlocksInternalAddresses(t *testing.T) {
	tests := []struct {
		addr string
		why  string // "" when allowed
	}{
		{public4, ""},
		{public6, ""},
		{"8.8.8.8", ""},
		{"100.63.255.255", ""},
		{"100.128.0.0", ""},
		{"172.15.255.255", ""},
		{"172.32.0.0", ""},
		{"169.253.255.255", ""},
		{"223.255.255.255", ""},
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"10.0.0.1", "private address (RFC 1918)"},
		{"172.16.0.1", "private address (RFC 1918)"},
		{"172.31.255.255", "private address (RFC 1918)"},
		{"192.168.1.1", "private address (RFC 1918)"},
		{"169.254.169.254", "link-local"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.255", "carrier-grade NAT"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fc00::1", "unique local"},
		{"fd12:3456::1", "unique local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"febf::1", "link-local"},
		{"fec0::1", "site-local"},
		{"ff02::1", "multicast"},
		{"ff0e::1", "multicast"},
		{"::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1, a loopback"},
		{"::ffff:10.1.2.3", "IPv4-mapped form of 10.1.2.3, a private"},
		{"::ffff:169.254.169.254", "IPv4-mapped form of 169.254.169.254, a link-local"},
		{"::ffff:100.64.0.1", "IPv4-mapped form of 100.64.0.1, a carrier-grade NAT"},
		{"::ffff:0.0.0.0", "IPv4-mapped form of 0.0.0.0"},
		{"::ffff:" + public4, ""},
		{"::127.0.0.1", "IPv4-compatible form of 127.0.0.1"},
		{"64:ff9b::10.0.0.1", "NAT64 form of 10.0.0.1"},
		{"64:ff9b::" + public4, ""},
		{"2002:7f00:1::", "6to4 form of 127.0.0.1"},
		{"2002:5db8:d822::1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			why, bad := blockedReason(netip.MustParseAddr(tt.addr))
			if bad != (tt.why != "") || !strings.Contains(why, tt.why) {
				t.Fatalf("blockedReason(%s) = %q, %v; want blocked=%v with %q", tt.addr, why, bad, tt.why != "", tt.why)
			}
			// The same through Check, as an IP literal and as a name.
			host := tt.addr
			if strings.Contains(host, ":") {
				host = "[" + strings.ReplaceAll(host, "%", "%25") + "]"
			}
			p := URLPolicy{RequireHTTPS: true, Resolver: newResolver(map[string][][]string{"hook.example": {{tt.addr}}})}
			for _, u := range []string{"https://" + host + "/api", "https://hook.example/api"} {
				err := p.Check(context.Background(), "notificationUrl", u)
				if tt.why == "" {
					if err != nil {
						t.Errorf("Check(%s): %v", u, err)
					}
					continue
				}
				wantInvalid(t, err, "notificationUrl", netip.MustParseAddr(tt.addr).String(), tt.why, "--allow-private-webhooks")
			}
		})
	}
}

func TestURLPolicyCheck(t *testing.T) {
	res := newResolver(map[string][][]string{
		"hook.contoso.com":  {{public4, public6}},
		"mixed.contoso.com": {{public4, "10.0.0.7"}},
		"v6.contoso.com":    {{public6, "fd00::7"}},
		"empty.contoso.com": {{}},
		"localhost":         {{"127.0.0.1", "::1"}},
	})
	strict := URLPolicy{RequireHTTPS: true, Resolver: res}
	tests := []struct {
		name   string
		policy URLPolicy
		url    string
		why    []string // nil when allowed
	}{
		{"public host over https", strict, "https://hook.contoso.com/api", nil},
		{"https required", strict, "http://hook.contoso.com/api", []string{"must use https", "dev mode (--dev)"}},
		{"http allowed in dev mode", URLPolicy{Resolver: res}, "http://hook.contoso.com/api", nil},
		{"any private address refuses", strict, "https://mixed.contoso.com/api", []string{"resolves to 10.0.0.7", "private address", "--allow-private-webhooks"}},
		{"any private IPv6 address refuses", strict, "https://v6.contoso.com/api", []string{"resolves to fd00::7"}},
		{"localhost", strict, "https://localhost:8443/", []string{"resolves to 127.0.0.1", "loopback"}},
		{"ip literal checked without resolving", strict, "https://10.1.1.1/", []string{"points at 10.1.1.1"}},
		{"ipv6 literal", strict, "https://[::1]:443/", []string{"points at ::1"}},
		{"mapped ipv6 literal", strict, "https://[::ffff:7f00:1]/", []string{"IPv4-mapped form of 127.0.0.1"}},
		{"unknown host", strict, "https://nowhere.contoso.com/", []string{"cannot resolve host 'nowhere.contoso.com' (no such host)"}},
		{"host without addresses", strict, "https://empty.contoso.com/", []string{"cannot resolve host", "no addresses"}},
		{"not a url", strict, "::", []string{"not an absolute URL"}},
		{"allow private", URLPolicy{RequireHTTPS: true, AllowPrivate: true, Resolver: res}, "https://10.1.1.1/", nil},
		{"allow private does not resolve", URLPolicy{RequireHTTPS: true, AllowPrivate: true, Resolver: res}, "https://nowhere.contoso.com/", nil},
		{"allow private still requires https", URLPolicy{RequireHTTPS: true, AllowPrivate: true, Resolver: res}, "http://10.1.1.1/", []string{"must use https"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Check(context.Background(), "lifecycleNotificationUrl", tt.url)
			if tt.why == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantInvalid(t, err, "lifecycleNotificationUrl", tt.why...)
		})
	}
}

var errDialed = errors.New("dial intercepted")

// interceptDialer records where a dial would go and stops it before any
// packet is sent (the test machine has no network).
func interceptDialer(got *[]string) *net.Dialer {
	var mu sync.Mutex
	return &net.Dialer{Control: func(network, address string, _ syscall.RawConn) error {
		mu.Lock()
		defer mu.Unlock()
		*got = append(*got, address)
		return errDialed
	}}
}

func TestURLPolicyDialer(t *testing.T) {
	tests := []struct {
		name    string
		answers [][]string
		addr    string
		network string
		dialed  []string // addresses the base dialer saw
		refused string   // "" when dialing is allowed
	}{
		{"public address dialed by IP", [][]string{{public4}}, "hook.example:443", "tcp", []string{public4 + ":443"}, ""},
		{"every public address tried in order", [][]string{{public4, public6}}, "hook.example:443", "tcp", []string{public4 + ":443", "[" + public6 + "]:443"}, ""},
		{"mapped address dialed as IPv4", [][]string{{"::ffff:" + public4}}, "hook.example:443", "tcp", []string{public4 + ":443"}, ""},
		{"ip literal", nil, public4 + ":8443", "tcp4", []string{public4 + ":8443"}, ""},
		{"private address refused", [][]string{{"192.168.0.10"}}, "hook.example:443", "tcp", nil, "192.168.0.10"},
		{"any private address refused", [][]string{{public4, "fe80::1"}}, "hook.example:443", "tcp", nil, "fe80::1"},
		{"private ip literal refused", nil, "127.0.0.1:80", "tcp", nil, "127.0.0.1"},
		{"mapped private literal refused", nil, "[::ffff:169.254.169.254]:80", "tcp", nil, "169.254.169.254"},
		{"udp refused", [][]string{{public4}}, "hook.example:443", "udp", nil, "tcp only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dialed []string
			p := URLPolicy{RequireHTTPS: true, Resolver: newResolver(map[string][][]string{"hook.example": tt.answers})}
			_, err := p.Dialer(interceptDialer(&dialed))(context.Background(), tt.network, tt.addr)
			if tt.refused == "" {
				if !errors.Is(err, errDialed) {
					t.Fatalf("dial: %v, want the intercepted dial", err)
				}
				if strings.Join(dialed, " ") != strings.Join(tt.dialed, " ") {
					t.Fatalf("dialed %q, want %q", dialed, tt.dialed)
				}
				return
			}
			var pe *presence.Error
			if !errors.As(err, &pe) || pe.Code != presence.Forbidden || !strings.Contains(pe.Message, tt.refused) {
				t.Fatalf("dial error %v, want Forbidden naming %s", err, tt.refused)
			}
			if len(dialed) != 0 {
				t.Fatalf("dialed %q despite refusing", dialed)
			}
		})
	}
}

// DNS rebinding: the name resolves to a public address when the
// subscription is checked and to a private one when a notification is
// delivered. Check passes; the Dialer must refuse.
func TestURLPolicyDialerDefeatsDNSRebinding(t *testing.T) {
	for _, private := range []string{"127.0.0.1", "10.0.0.5", "169.254.169.254", "::1", "::ffff:192.168.1.1"} {
		t.Run(private, func(t *testing.T) {
			res := newResolver(map[string][][]string{"rebind.example": {{public4}, {private}}})
			p := URLPolicy{RequireHTTPS: true, Resolver: res}
			if err := p.Check(context.Background(), "notificationUrl", "https://rebind.example/hook"); err != nil {
				t.Fatalf("Check at subscription time: %v", err)
			}
			var dialed []string
			_, err := p.Dialer(interceptDialer(&dialed))(context.Background(), "tcp", "rebind.example:443")
			var pe *presence.Error
			if !errors.As(err, &pe) || pe.Code != presence.Forbidden || !strings.Contains(pe.Message, "refusing to connect") {
				t.Fatalf("dial after rebinding: %v, want refusal", err)
			}
			if len(dialed) != 0 {
				t.Fatalf("dialed %q", dialed)
			}
		})
	}
}

func TestURLPolicyDialerResolutionFailure(t *testing.T) {
	p := URLPolicy{Resolver: newResolver(nil)}
	var dialed []string
	_, err := p.Dialer(interceptDialer(&dialed))(context.Background(), "tcp", "gone.example:443")
	var de *net.DNSError
	if !errors.As(err, &de) || len(dialed) != 0 {
		t.Fatalf("dial: %v (dialed %q), want the DNS error", err, dialed)
	}
}

// With AllowPrivate the base dialer is used as is: loopback connects.
func TestURLPolicyDialerAllowPrivate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback: %v", err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := URLPolicy{AllowPrivate: true}.Dialer(nil)(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, err = URLPolicy{}.Dialer(nil)(context.Background(), "tcp", ln.Addr().String())
	if presence.ErrorCode(err) != presence.Forbidden {
		t.Fatalf("strict policy dialed loopback: %v", err)
	}
}
