package demoapp

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Default loopback addresses of the cast. Linux routes all of 127.0.0.0/8
// to the loopback interface, so each can be bound without configuration.
var (
	ServerAddr   = netip.MustParseAddr("127.0.0.80")
	VictimAddr   = netip.MustParseAddr("127.0.0.10")
	AttackerAddr = netip.MustParseAddr("127.0.0.66")
)

// newClient returns an HTTP client whose connections go from local to
// server whatever the URL's host, so requests can name Host while staying on
// loopback. Each request opens its own connection (as a browser does after an
// idle pause), which makes the capture easy to follow.
func newClient(local netip.Addr, server netip.AddrPort, jar http.CookieJar) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: local.AsSlice()}, Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp4", server.String())
		},
		DisableKeepAlives: true,
		Proxy:             nil,
	}
	return &http.Client{
		Transport: tr,
		Jar:       jar,
		Timeout:   10 * time.Second,
	}
}

// Victim is a browser that logs in to the app and reads its account page.
type Victim struct {
	client *http.Client
	jar    *cookiejar.Jar
	base   string
}

// NewVictim returns a victim browsing from local to the app at server.
func NewVictim(local netip.Addr, server netip.AddrPort) *Victim {
	jar, _ := cookiejar.New(nil)
	return &Victim{client: newClient(local, server, jar), jar: jar, base: baseURL(server)}
}

func baseURL(server netip.AddrPort) string {
	if server.Port() == 80 {
		return "http://" + Host
	}
	return fmt.Sprintf("http://%s:%d", Host, server.Port())
}

// Login opens the login page and posts the form; the app answers with the
// session cookie and a redirect to /account, which the victim follows.
func (v *Victim) Login(ctx context.Context, user, password string) error {
	if err := get(ctx, v.client, v.base+"/", nil); err != nil {
		return err
	}
	form := url.Values{"username": {user}, "password": {password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(v.client, req, "/account")
}

// Account reads the account page with the session cookie.
func (v *Victim) Account(ctx context.Context) error {
	return get(ctx, v.client, v.base+"/account", nil)
}

// Cookie returns the session cookie the victim's browser holds, or "". The
// attacker's copy of it stands for what anyone on the path reads off the
// wire: the capture shows the value in clear.
func (v *Victim) Cookie() string {
	u, _ := url.Parse(v.base + "/")
	for _, c := range v.jar.Cookies(u) {
		if c.Name == CookieName {
			return c.Value
		}
	}
	return ""
}

// Attacker replays a stolen session cookie from its own address.
type Attacker struct {
	client *http.Client
	base   string
}

// NewAttacker returns an attacker sending from local to the app at server.
func NewAttacker(local netip.Addr, server netip.AddrPort) *Attacker {
	return &Attacker{client: newClient(local, server, nil), base: baseURL(server)}
}

// Replay requests the victim's account page with the stolen cookie value and
// reports whether the app let it in (200 rather than a redirect to login).
func (a *Attacker) Replay(ctx context.Context, value string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/account", nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Cookie", CookieName+"="+value)
	// Do not follow the redirect: a 302 to / means the replay failed.
	c := *a.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return false, fmt.Errorf("demoapp: attacker: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

func get(ctx context.Context, c *http.Client, u string, hdr http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	return do(c, req, "")
}

// do sends req, drains the body and checks the final status is 200 (and, if
// wantPath is set, that the last request went there).
func do(c *http.Client, req *http.Request, wantPath string) error {
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("demoapp: %s %s: %w", req.Method, req.URL.Path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("demoapp: %s %s: status %d", req.Method, req.URL.Path, resp.StatusCode)
	}
	if wantPath != "" && resp.Request.URL.Path != wantPath {
		return fmt.Errorf("demoapp: %s %s ended at %s, want %s", req.Method, req.URL.Path, resp.Request.URL.Path, wantPath)
	}
	return nil
}
