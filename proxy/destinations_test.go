package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// service is a local HTTP service that counts its requests.
type service struct {
	addr string
	hits atomic.Int32
}

func newService(t *testing.T, l net.Listener) *service {
	t.Helper()
	s := &service{addr: l.Addr().String()}
	serveForTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		io.WriteString(w, "service at "+s.addr)
	}), l)
	return s
}

func (s *service) port() string { _, p, _ := net.SplitHostPort(s.addr); return p }

// rawConnect sends a CONNECT for target, with extra bytes in the same
// write, over a connection from dial, and reads the proxy's answer.
func rawConnect(t *testing.T, dial func(context.Context, string, string) (net.Conn, error), proxyAddr, target, extra string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	conn, err := dial(context.Background(), "tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n"+extra); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	return conn, br, resp
}

func loopbackDial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// TestDestinationsPolicyForLANClients: a client on another machine (in a
// network namespace) reaches LAN destinations through the proxy, but not
// this host's loopback services or its own addresses, whatever name it
// uses, and CONNECTs only to the connect ports; a process on this host
// reaches them but not the admin listener; a loopback client reaches all.
func TestDestinationsPolicyForLANClients(t *testing.T) {
	ns := newNetns(t)
	local := newService(t, listen(t))               // a service bound to loopback
	admin := newService(t, listen(t))               // the dashboard, as Options.AdminAddrs
	hostL, err := net.Listen("tcp", ns.HostIP+":0") // a service on this host's LAN address
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hostL.Close() })
	onHost := newService(t, hostL)
	lan := newService(t, ns.listen(t)) // a LAN origin: another machine
	// A LAN mail server on a connect port: it speaks first.
	mailL := ns.listen(t)
	go func() {
		for {
			c, err := mailL.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "220 mail.lan ESMTP\r\n")
			c.Close()
		}
	}()
	mailPort, _ := strconv.Atoi(port(mailL))
	localPort, _ := strconv.Atoi(local.port())

	w := newWorld(t, worldOptions{tweak: func(o *Options) {
		o.AllowClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.200.0.0/16")}
		o.AdminAddrs = []netip.AddrPort{netip.MustParseAddrPort(admin.addr)}
		// The local service's port is a connect port, so that a CONNECT
		// to it is refused for its address, not its port.
		o.ConnectPorts = []uint16{443, uint16(mailPort), uint16(localPort)}
	}})
	pl, err := net.Listen("tcp", ns.HostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pl.Close() })
	serveForTest(t, w.proxy, pl)
	proxyAddr := pl.Addr().String()
	viaProxy := func(dial func(context.Context, string, string) (net.Conn, error)) *http.Client {
		return &http.Client{
			Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: proxyAddr}), DialContext: dial, DisableKeepAlives: true},
			Timeout:   10 * time.Second,
		}
	}
	lanClient := viaProxy(ns.DialContext)

	refusals := 0
	t.Run("requests", func(t *testing.T) {
		for _, tc := range []struct {
			name, url  string
			wantStatus int
			wantReason string
		}{
			{"loopback address", "http://127.0.0.1:" + local.port() + "/", 403, reasonLoopback},
			{"IPv6 loopback", "http://[::1]:" + local.port() + "/", 403, reasonLoopback},
			{"IPv4-mapped loopback", "http://[::ffff:127.0.0.1]:" + local.port() + "/", 403, reasonLoopback},
			{"unspecified address", "http://0.0.0.0:" + local.port() + "/", 403, reasonUnspecified},
			{"name resolving to 127.0.0.1", "http://intranet.test:" + local.port() + "/", 403, reasonLoopback},
			{"admin by a name", "http://dashboard.test:" + admin.port() + "/", 403, reasonAdmin},
			{"this host's LAN address", "http://" + onHost.addr + "/", 403, reasonOwn},
			{"LAN origin", "http://" + lan.addr + "/", 200, ""},
		} {
			resp, body := w.get(lanClient, tc.url)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("%s: GET %s: status %d, want %d (%s)", tc.name, tc.url, resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantReason != "" {
				refusals++
				if !strings.Contains(string(body), tc.wantReason) {
					t.Errorf("%s: body %q does not give the reason %q", tc.name, body, tc.wantReason)
				}
			}
		}
		if lan.hits.Load() != 1 {
			t.Errorf("LAN origin hits = %d, want 1", lan.hits.Load())
		}
	})

	t.Run("CONNECT", func(t *testing.T) {
		for _, tc := range []struct {
			name, target string
			wantReason   string
		}{
			{"loopback address", "127.0.0.1:" + local.port(), reasonLoopback},
			{"port not a connect port", lan.addr, reasonPort},
			{"tunnelled name resolving to 127.0.0.1", "bank.test:" + local.port(), reasonLoopback},
			{"this host's LAN address", ns.HostIP + ":" + local.port(), reasonOwn},
		} {
			_, br, resp := rawConnect(t, ns.DialContext, proxyAddr, tc.target, "")
			body, _ := io.ReadAll(io.LimitReader(br, 4096))
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), tc.wantReason) {
				t.Errorf("%s: CONNECT %s: %d %q, want 403 for %q", tc.name, tc.target, resp.StatusCode, body, tc.wantReason)
			}
			refusals++
		}
		// A LAN server on a connect port is tunnelled, and speaks first.
		_, br, resp := rawConnect(t, ns.DialContext, proxyAddr, net.JoinHostPort(ns.PeerIP, port(mailL)), "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT to the LAN mail server: %d", resp.StatusCode)
		}
		if line, err := br.ReadString('\n'); line != "220 mail.lan ESMTP\r\n" {
			t.Errorf("banner through the tunnel = %q, %v", line, err)
		}
	})

	if n := local.hits.Load() + admin.hits.Load() + onHost.hits.Load(); n != 0 {
		t.Errorf("this host's services were reached %d times by the LAN client", n)
	}
	var got []Event
	for _, e := range w.eventsOf(KindDestinationRefused) {
		if e.Client == ns.PeerIP {
			got = append(got, e)
		}
	}
	if len(got) != refusals {
		t.Errorf("destination-refused events for %s = %d, want %d: %+v", ns.PeerIP, len(got), refusals, got)
	}
	for _, e := range got {
		if !strings.Contains(e.Detail, "refused: ") || e.Host == "" {
			t.Errorf("event without a reason or host: %+v", e)
		}
	}

	t.Run("process on this host", func(t *testing.T) {
		fromHost := viaProxy((&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ns.HostIP)}}).DialContext)
		if resp, body := w.get(fromHost, "http://127.0.0.1:"+local.port()+"/"); resp.StatusCode != 200 {
			t.Errorf("local service from this host's LAN address: %d %s", resp.StatusCode, body)
		}
		if resp, body := w.get(fromHost, "http://"+admin.addr+"/"); resp.StatusCode != 403 || !strings.Contains(string(body), reasonAdmin) {
			t.Errorf("admin listener from this host's LAN address: %d %s, want 403", resp.StatusCode, body)
		}
		if admin.hits.Load() != 0 {
			t.Error("the admin listener was reached by a client that is not on loopback")
		}
	})

	t.Run("loopback client", func(t *testing.T) {
		c := w.client(nil)
		for _, u := range []string{"http://127.0.0.1:" + local.port() + "/", "http://" + admin.addr + "/", "http://intranet.test:" + local.port() + "/"} {
			if resp, body := w.get(c, u); resp.StatusCode != 200 {
				t.Errorf("loopback client: GET %s: %d %s", u, resp.StatusCode, body)
			}
		}
		// No connect_ports for it: the LAN origin's port is fine.
		if _, _, resp := rawConnect(t, loopbackDial, w.proxyURL.Host, lan.addr, ""); resp.StatusCode != 200 {
			t.Errorf("loopback client: CONNECT %s: %d", lan.addr, resp.StatusCode)
		}
	})
}

// TestDenyDestinations: listed networks are refused to every client, at
// the CONNECT and at dial time for names.
func TestDenyDestinations(t *testing.T) {
	w := newWorld(t, worldOptions{tweak: func(o *Options) {
		o.DenyDestinations = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}})
	resp, body := w.get(w.client(nil), w.httpURL("site.test", "/"))
	if resp.StatusCode != 403 || !strings.Contains(string(body), reasonDenied) {
		t.Errorf("name resolving into deny_destinations: %d %s", resp.StatusCode, body)
	}
	_, br, resp := rawConnect(t, loopbackDial, w.proxyURL.Host, "127.0.0.1:"+w.tlsPort, "")
	body, _ = io.ReadAll(br)
	if resp.StatusCode != 403 || !strings.Contains(string(body), reasonDenied) {
		t.Errorf("CONNECT into deny_destinations: %d %s", resp.StatusCode, body)
	}
	if w.origin.count("site.test/") != 0 {
		t.Error("origin reached")
	}
	if ev := w.eventsOf(KindDestinationRefused); len(ev) != 2 {
		t.Errorf("destination-refused events = %+v, want 2", ev)
	}
}

// TestLinkLocalClientMatchesAllowClients: the zone of a link-local client
// does not keep it from matching fe80::/10.
func TestLinkLocalClientMatchesAllowClients(t *testing.T) {
	w := newWorld(t, worldOptions{tweak: func(o *Options) {
		o.AllowClients = []netip.Prefix{netip.MustParsePrefix("fe80::/10")}
	}})
	for _, tc := range []struct {
		remote string
		want   int
	}{
		{"[fe80::1%eth0]:5555", http.StatusOK},
		{"[fe80::1]:5555", http.StatusOK},
		{"127.0.0.1:5555", http.StatusForbidden},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://"+OwnHost+"/", nil)
		r.RemoteAddr = tc.remote
		rec := httptest.NewRecorder()
		w.proxy.ServeHTTP(rec, r)
		if rec.Code != tc.want {
			t.Errorf("client %s: status %d, want %d", tc.remote, rec.Code, tc.want)
		}
	}
	if got := clientIP("[fe80::1%eth0]:5555"); got != netip.MustParseAddr("fe80::1") {
		t.Errorf("clientIP kept the zone: %v", got)
	}
}

// TestDialControlRefusesRebinding: the check runs on the address being
// connected, whatever name led there.
func TestDialControlRefusesRebinding(t *testing.T) {
	s := &Server{}
	s.own.list = func() ([]net.Addr, error) { return nil, nil }
	ctx := context.WithValue(context.Background(), reqInfoKey{}, &reqInfo{s: s, class: classRemote})
	for addr, refused := range map[string]bool{
		"127.0.0.1:80": true, "[::1]:443": true, "0.0.0.0:80": true, "0.1.2.3:80": true,
		"[::ffff:127.0.0.1]:80": true, "192.168.1.1:80": false, "[fe80::1%eth0]:80": false,
	} {
		err := dialControl(ctx, "tcp4", addr, nil)
		if (err != nil) != refused {
			t.Errorf("dialControl(%s) = %v, want refused %v", addr, err, refused)
		}
	}
	if err := dialControl(context.Background(), "tcp4", "127.0.0.1:80", nil); err != nil {
		t.Errorf("a dial not made for a client was refused: %v", err)
	}
}

// TestCustomDialerCheckedOnceConnected: a Transport whose dialer does not
// run dialControl is still held to the policy, on the connected address.
func TestCustomDialerCheckedOnceConnected(t *testing.T) {
	l := listen(t)
	tr := NewTransport(TransportOptions{})
	var d net.Dialer
	tr.DialContext = d.DialContext // no ControlContext
	w := newWorld(t, worldOptions{tweak: func(o *Options) { o.Transport = tr }})
	c, err := w.proxy.tr[classRemote].DialContext(context.Background(), "tcp", l.Addr().String())
	var de *DestinationError
	if !errors.As(err, &de) || de.Reason != reasonLoopback {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial to loopback for a remote client: %v, want a refusal", err)
	}
	c, err = w.proxy.tr[classLoopback].DialContext(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial to loopback for a loopback client: %v", err)
	}
	c.Close()
}
