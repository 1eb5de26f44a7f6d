// Package correlate follows session cookies across messages and connections
// and tells the exposure story of each host: whether it was seen over TLS,
// over plaintext HTTP or both, and the cross-connection rules of its
// catalogue (mixed schemes, cookies set over HTTPS then leaked over HTTP,
// reuse from a second client, redirects and logins, shadowed Secure cookies).
// Each finding carries its chain: every link, with file, frame and time.
//
// Cookie values are never kept: a value is known by a keyed hash (HMAC-SHA256
// with a random 32-byte key drawn for each run unless Config.Key is set,
// truncated to 128 bits), so the state cannot be turned back into values
// after the run. Findings show the value as rules.Value does (length and the
// unkeyed SHA-256 fingerprint of the per-message findings, so both can be
// matched); the raw value never, even with --show-values.
//
// Ordering: a file's messages arrive in capture order per connection, but
// connections interleave and buffered data arrives late, so no rule relies on
// arrival order. Immediate rules compare capture times of the links they hold
// and fire when both ends are present, whichever came first. The one rule with
// a negative condition (cookie-set-over-tls-leaked: "never set in plaintext")
// is decided when its value leaves the window or at End. Live capture would
// call Expire with the capture clock; such findings then appear one window
// after the value was last seen, and at shutdown.
//
// The state is bounded: hosts (MaxHosts, least recently seen evicted),
// values (MaxValues, and idle longer than Window in capture time), cookie
// names and logins per host, clients per value. Every eviction or refusal is
// counted in Stats. A Correlator is not safe for concurrent use: a sharded
// pipeline feeds it from one goroutine.
package correlate

import (
	"cmp"
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/rules"
)

// Config bounds and tunes a Correlator. Zero fields take their defaults.
type Config struct {
	// Window (default 1h, capture time) is the session-reuse window, and
	// value state idle longer than it is evicted (deciding its AtEnd rules).
	Window    time.Duration
	MaxHosts  int // hosts tracked (default 10000); the least recently seen is evicted
	MaxValues int // session values tracked (default 100000)
	MaxNames  int // cookie names tracked per host (default 64)
	MaxLogins int // clients with logins tracked per host (default 256)
	// Classifier decides which cookies are session cookies.
	Classifier rules.Classifier
	// Key keys the value hash; nil draws 32 random bytes (tests set it).
	Key []byte
}

const (
	defaultWindow    = time.Hour
	defaultMaxHosts  = 10000
	defaultMaxValues = 100000
	defaultMaxNames  = 64
	defaultMaxLogins = 256
	maxClients       = 8    // client addresses kept per value
	maxLoginsEach    = 4    // logins kept per client and host
	maxHostList      = 4    // TLS versions or ALPN protocols kept per host
	maxDetail        = 96   // bytes of a path kept in a link's detail
	maxClassNames    = 4096 // request cookie names whose class is remembered
)

func (c Config) withDefaults() Config {
	if c.Window <= 0 {
		c.Window = defaultWindow
	}
	if c.MaxHosts <= 0 {
		c.MaxHosts = defaultMaxHosts
	}
	if c.MaxValues <= 0 {
		c.MaxValues = defaultMaxValues
	}
	if c.MaxNames <= 0 {
		c.MaxNames = defaultMaxNames
	}
	if c.MaxLogins <= 0 {
		c.MaxLogins = defaultMaxLogins
	}
	return c
}

// Stats counts what the state holds and what it had to drop.
type Stats struct {
	Hosts, Values int               // tracked now
	Evictions     map[string]uint64 // by kind: "host-limit", "value-window", "value-limit", "name-limit", "login-limit", "client-limit"
}

// Correlator holds the bounded cross-connection state of one run.
type Correlator struct {
	cfg    Config
	mac    hash.Hash // HMAC-SHA256 keyed with the run's key, Reset for each value
	hosts  map[string]*host
	hostLR *list.List // of *host, most recently seen first
	values map[[16]byte]*value
	valLR  *list.List // of *value, most recently used first
	tick   uint64     // last value.used handed out
	// byClient indexes the tracked values by host and client address (each
	// value under every client of its clients list), so a login re-checks
	// only its client's values on its host.
	byClient map[hostClient][]*value
	now      time.Time // latest capture time seen
	out      []rules.Finding
	evict    map[string]uint64

	macIn   []byte   // reused: the hashed bytes of a value
	macSum  [32]byte // reused: the HMAC
	recheck []*value // reused by recheckLogins

	reqClass map[string]rules.SessionClass // by cookie name (requestClass)
}

// hostClient keys Correlator.byClient.
type hostClient struct {
	host   string
	client netip.Addr
}

// New returns a Correlator. It fails only when no random key can be drawn.
func New(cfg Config) (*Correlator, error) {
	cfg = cfg.withDefaults()
	key := cfg.Key
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("correlate: drawing the value-hash key: %w", err)
		}
	}
	return &Correlator{cfg: cfg, mac: hmac.New(sha256.New, key), hosts: map[string]*host{}, hostLR: list.New(),
		values: map[[16]byte]*value{}, valLR: list.New(), byClient: map[hostClient][]*value{},
		reqClass: map[string]rules.SessionClass{},
		evict:    map[string]uint64{}}, nil
}

// at orders links by capture time, then file and frame.
func before(a, b rules.Link) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	if a.File != b.File {
		return a.File < b.File
	}
	return a.Frame < b.Frame
}

// host is what is known about one host name (or server address, for TLS
// without SNI and responses whose request was not seen).
type host struct {
	name      string
	elem      *list.Element
	tls       *rules.Link // first ClientHello (or ServerHello) to the host
	tlsLast   *rules.Link // latest one
	plaintext bool
	hsts      bool
	versions  []string // chosen by ServerHellos
	alpn      []string // offered in ClientHellos
	first     time.Time
	last      time.Time
	names     map[string]*name
	logins    map[netip.Addr][]rules.Link
	lossy     bool // some of its state was refused or evicted
	decrypted bool // a message decrypted from TLS was seen (tls.go)
	unmixed   int  // names with an exposure and no mixed-scheme-session yet
}

// name is one cookie name of a host.
type name struct {
	session  bool
	exposed  *exposure   // first plaintext occurrence of the session cookie
	mixed    bool        // mixed-scheme-session fired
	secure   *rules.Link // earliest plaintext Set-Cookie with Secure
	insecure *exposure   // latest plaintext Set-Cookie without Secure
	shadowed bool
}

// exposure is one plaintext message carrying a cookie, as a finding needs it.
type exposure struct {
	link           rules.Link
	val            *rules.Value
	direction      string
	client, server netip.AddrPort
	method, path   string
	status         int
	deletion       bool
	req            *rules.Link // the request a response answers
	cls            rules.SessionClass
}

// value is one session value of one host and cookie name, known by hash.
type value struct {
	key      [16]byte
	elem     *list.Element
	host     string
	name     string
	val      *rules.Value
	server   netip.Addr // of the first plaintext request, for TLS without SNI
	setPlain bool
	sent     *exposure // first plaintext request carrying it
	clients  []clientUse
	reuse    bool    // session-reuse fired
	decided  bool    // cookie-set-over-tls-leaked decided
	setTLS   *tlsSet // earliest Set-Cookie of the value inside decrypted TLS (tls.go)
	last     time.Time
	used     uint64 // Correlator.tick when last moved to the front of valLR
}

// clientUse is one client address's requests carrying a value.
type clientUse struct {
	addr        netip.Addr
	first, last exposure
	rotated     bool // session-not-rotated fired (or checked) for this client
	idx         int  // position of the value in Correlator.byClient
}

// HostKey normalises a Host header, SNI or address for correlation: lower
// case, no port, no trailing dot, IPv6 without brackets.
func HostKey(h string) string {
	if !needsHostKey(h) {
		return h
	}
	h = strings.ToLower(strings.TrimSpace(h))
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr().Unmap().String()
	}
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		if _, err := strconv.Atoi(h[i+1:]); err == nil || i == len(h)-1 {
			h = h[:i]
		}
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().String()
	}
	return strings.TrimSuffix(h, ".")
}

// SeenPlaintext records that a plaintext request for host (a Host header
// value) was seen at t, for the host report, when the request itself is not
// analysed (it carries nothing the rules read). It allocates only for a new
// host or a Host value that needs normalising; host may point into a reused
// buffer.
func (c *Correlator) SeenPlaintext(host string, t time.Time) {
	hk := HostKey(host)
	if hk == "" {
		return
	}
	if _, ok := c.hosts[hk]; !ok {
		hk = strings.Clone(hk)
	}
	c.touchHost(hk, t).plaintext = true
}

// msgHostKey is the correlation key of a message's host: its Host, else its
// server address.
func msgHostKey(host string, server netip.AddrPort) string {
	if hk := HostKey(host); hk != "" {
		return hk
	}
	return server.Addr().Unmap().String()
}

// needsHostKey reports whether HostKey could change h. A name of lower-case
// letters, digits, '-', '_' and '.' (not ending with '.') is its own key, and
// so is an IPv4 address (netip accepts only its canonical form); anything
// else (upper case, a port, an IPv6 literal, spaces, non-ASCII) goes through
// HostKey.
func needsHostKey(h string) bool {
	if h == "" || h[len(h)-1] == '.' {
		return true
	}
	for i := 0; i < len(h); i++ {
		switch b := h[i]; {
		case 'a' <= b && b <= 'z', '0' <= b && b <= '9', b == '.', b == '-', b == '_':
		default:
			return true
		}
	}
	return false
}

// touchHost returns the host's state, creating it (and evicting the least
// recently seen host over MaxHosts).
func (c *Correlator) touchHost(key string, t time.Time) *host {
	h := c.hosts[key]
	if h == nil {
		h = &host{name: key, first: t, last: t, names: map[string]*name{}}
		h.elem = c.hostLR.PushFront(h)
		c.hosts[key] = h
		for len(c.hosts) > c.cfg.MaxHosts {
			old := c.hostLR.Back().Value.(*host)
			c.hostLR.Remove(old.elem)
			delete(c.hosts, old.name)
			c.evict["host-limit"]++
		}
		return h
	}
	c.hostLR.MoveToFront(h.elem)
	if t.Before(h.first) {
		h.first = t
	}
	if t.After(h.last) {
		h.last = t
	}
	return h
}

// name returns the host's state for a cookie name, nil when MaxNames is reached.
func (c *Correlator) name(h *host, n string, session bool) *name {
	if ns := h.names[n]; ns != nil {
		return ns
	}
	if len(h.names) >= c.cfg.MaxNames {
		c.evict["name-limit"]++
		h.lossy = true
		return nil
	}
	ns := &name{session: session}
	h.names[n] = ns
	return ns
}

// advance moves the clock and expires idle values.
func (c *Correlator) advance(t time.Time) {
	if t.After(c.now) {
		c.now = t
	}
	c.Expire(c.now)
}

// Expire evicts values idle for longer than the window before now (capture
// time), deciding their AtEnd rules. File analysis calls it as messages
// arrive; live capture would also call it on a timer with the capture clock.
func (c *Correlator) Expire(now time.Time) {
	limit := now.Add(-c.cfg.Window)
	for e := c.valLR.Back(); e != nil; e = c.valLR.Back() {
		v := e.Value.(*value)
		if !v.last.Before(limit) {
			return
		}
		c.dropValue(v, "value-window")
	}
}

func (c *Correlator) dropValue(v *value, why string) {
	c.decideValue(v)
	c.valLR.Remove(v.elem)
	delete(c.values, v.key)
	for i := range v.clients {
		c.unindex(v, &v.clients[i])
	}
	c.evict[why]++
}

// index adds v to byClient under the client of cu, its newest clientUse.
func (c *Correlator) index(v *value, cu *clientUse) {
	k := hostClient{v.host, cu.addr}
	vs := c.byClient[k]
	cu.idx = len(vs)
	c.byClient[k] = append(vs, v)
}

// unindex removes v from byClient under the client of cu.
func (c *Correlator) unindex(v *value, cu *clientUse) {
	k := hostClient{v.host, cu.addr}
	vs := c.byClient[k]
	last := len(vs) - 1
	if cu.idx != last { // move the last one into the hole
		w := vs[last]
		vs[cu.idx] = w
		for j := range w.clients {
			if w.clients[j].addr == cu.addr {
				w.clients[j].idx = cu.idx
			}
		}
	}
	vs[last] = nil
	if last == 0 {
		delete(c.byClient, k)
	} else {
		c.byClient[k] = vs[:last]
	}
}

// valueKey returns the keyed hash that knows a value of host/name. It does
// not allocate.
func (c *Correlator) valueKey(hostKey, cookie, val string) [16]byte {
	b := append(c.macIn[:0], hostKey...)
	b = append(b, 0)
	b = append(b, cookie...)
	b = append(b, 0)
	b = append(b, val...)
	c.macIn = b
	c.mac.Reset()
	c.mac.Write(b)
	var k [16]byte
	copy(k[:], c.mac.Sum(c.macSum[:0]))
	return k
}

// valueState returns the state of a value of host/name, creating it.
func (c *Correlator) valueState(hostKey, cookie, val string, t time.Time) *value {
	return c.trackValue(c.valueKey(hostKey, cookie, val), hostKey, cookie, val, nil, t)
}

// trackValue returns the state of the value of host/name whose key is k,
// marked used at t, creating it (with rv as its rules.Value when not nil).
func (c *Correlator) trackValue(k [16]byte, hostKey, cookie, val string, rv *rules.Value, t time.Time) *value {
	c.tick++
	v := c.values[k]
	if v == nil {
		if rv == nil {
			rv = rules.NewValue(val, false)
		}
		v = &value{key: k, host: hostKey, name: strings.Clone(cookie), val: rv, last: t, used: c.tick}
		v.elem = c.valLR.PushFront(v)
		c.values[k] = v
		for len(c.values) > c.cfg.MaxValues {
			c.dropValue(c.valLR.Back().Value.(*value), "value-limit")
		}
		return v
	}
	if t.After(v.last) {
		v.last = t
	}
	v.used = c.tick
	c.valLR.MoveToFront(v.elem)
	return v
}

// tlsFor returns the TLS link that makes a plaintext message at link at, to
// host hostKey at server address addr, one of "a host seen over TLS": a
// hello by name (SNI), else a TLS connection without SNI to the same server
// address. It prefers the latest hello before at, else the earliest after.
func (c *Correlator) tlsFor(hostKey string, addr netip.Addr, at rules.Link) *rules.Link {
	var buf [4]*rules.Link
	cands := buf[:0]
	if h := c.hosts[hostKey]; h != nil && h.tls != nil {
		cands = append(cands, h.tls, h.tlsLast)
	}
	var ab [64]byte // the address as a host key (its String), without allocating
	ak := append(ab[:0], "invalid IP"...)
	if addr.IsValid() {
		ak = addr.Unmap().AppendTo(ab[:0])
	}
	if h := c.hosts[string(ak)]; h != nil && h.tls != nil {
		cands = append(cands, h.tls, h.tlsLast)
	}
	if len(cands) == 0 {
		return nil
	}
	var prior, after *rules.Link
	for _, l := range cands {
		if before(*l, at) {
			if prior == nil || before(*prior, *l) {
				prior = l
			}
		} else if after == nil || before(*l, *after) {
			after = l
		}
	}
	if prior != nil {
		return prior
	}
	return after
}

// TLSHello records a TLS connection's hello (httpparse.TLSHandler) read from
// file: the ClientHello makes its host (SNI, else the server address) "seen
// over TLS"; the ServerHello adds the chosen version, and stands in for a
// ClientHello that was not captured.
func (c *Correlator) TLSHello(file string, t *httpparse.TLSInfo) {
	key := HostKey(t.SNI)
	if key == "" {
		key = t.Server.Addr().Unmap().String()
	}
	var link rules.Link
	if t.Latest == 2 {
		h := c.touchHost(key, t.ServerTime)
		if v := httpparse.VersionName(t.Version); !slices.Contains(h.versions, v) && len(h.versions) < maxHostList {
			h.versions = append(h.versions, v)
		}
		if t.ClientHello {
			return // its ClientHello call recorded the connection
		}
		link = rules.Link{Kind: "tls-server-hello", File: file, Frame: t.ServerFrame, Time: t.ServerTime,
			Detail: "ServerHello " + httpparse.VersionName(t.Version) + " (ClientHello not captured)"}
	} else {
		var vs []string
		for _, v := range t.Versions {
			vs = append(vs, httpparse.VersionName(v))
		}
		sni := t.SNI
		if sni == "" {
			sni = "(none)"
		}
		link = rules.Link{Kind: "tls-hello", File: file, Frame: t.HelloFrame, Time: t.HelloTime,
			Detail: "ClientHello SNI " + clip(sni) + " offering " + strings.Join(vs, ", ")}
		h := c.touchHost(key, t.HelloTime)
		for _, p := range t.ALPN {
			if p = clip(p); !slices.Contains(h.alpn, p) && len(h.alpn) < maxHostList {
				h.alpn = append(h.alpn, p)
			}
		}
	}
	c.advance(link.Time)
	h := c.hosts[key]
	if h == nil { // evicted at once (MaxHosts reached and this host the oldest)
		return
	}
	l := link
	if h.tls == nil || before(l, *h.tls) {
		h.tls = &l
	}
	if h.tlsLast == nil || before(*h.tlsLast, l) {
		h.tlsLast = &l
	}
	// Plaintext exposures already recorded for the host now make a mixed scheme.
	c.mixedSchemes(h)
}

// mixedSchemes runs mixedScheme for each of the host's cookie names that has
// an exposure and has not fired, in name order.
func (c *Correlator) mixedSchemes(h *host) {
	if h.unmixed == 0 {
		return // mixedScheme would return at once for every name
	}
	for _, n := range slices.Sorted(maps.Keys(h.names)) {
		c.mixedScheme(h, n, h.names[n])
	}
}

// expose records e as the earliest plaintext exposure of a session cookie
// name of the host (the caller compared it with the one before).
func (h *host) expose(ns *name, e *exposure) {
	if ns.exposed == nil {
		h.unmixed++
	}
	ns.exposed = e
}

// mixedScheme fires mixed-scheme-session for a host's cookie name once.
func (c *Correlator) mixedScheme(h *host, cookie string, ns *name) {
	if ns.mixed || ns.exposed == nil {
		return
	}
	e := ns.exposed
	tl := c.tlsFor(h.name, e.server.Addr(), e.link)
	f := Fact{Session: ns.session, Plaintext: true, HostTLS: tl != nil, Deletion: e.deletion}
	if !c.holds("mixed-scheme-session", f) {
		return
	}
	ns.mixed = true
	h.unmixed--
	chain := []rules.Link{*tl}
	if e.req != nil {
		chain = append(chain, *e.req)
	}
	c.emit("mixed-scheme-session", h.name, cookie, e, append(chain, e.link), rules.Firm)
}

func (c *Correlator) holds(id string, f Fact) bool { return catalogue[byID(id)].Holds(f) }

// emit appends a finding whose evidence is e (the decisive message) and chain.
func (c *Correlator) emit(id, hostKey, cookie string, e *exposure, chain []rules.Link, conf rules.Confidence) {
	i := byID(id)
	r := catalogue[i]
	slices.SortStableFunc(chain, func(a, b rules.Link) int {
		switch {
		case before(a, b):
			return -1
		case before(b, a):
			return 1
		}
		return 0
	})
	last := chain[len(chain)-1]
	f := rules.Finding{
		Rule: r.ID, Title: r.Title, Severity: r.Severity, Confidence: conf, CWE: r.CWE,
		Cookie: cookie, Value: e.val, Session: sessionOf(e.cls), Direction: e.direction,
		Deletion: e.deletion, Host: hostKey, Client: e.client, Server: e.server,
		File: last.File, Frame: last.Frame, Time: last.Time, LastTime: last.Time,
		Method: e.method, Path: e.path, Status: e.status, Count: 1, Chain: chain,
	}
	f.SetOrder(i)
	c.out = append(c.out, f)
}

// Take returns the findings decided since the last call.
func (c *Correlator) Take() []rules.Finding {
	out := c.out
	c.out = nil
	return out
}

// Drain passes the findings decided since the last call to fn, in order
// (those Take would return), and keeps their storage for the next ones
// instead of handing it over: a caller that folds each finding as it comes
// allocates nothing for them.
func (c *Correlator) Drain(fn func(rules.Finding)) {
	for _, f := range c.out {
		fn(f)
	}
	clear(c.out)
	c.out = c.out[:0]
}

// Request records a plaintext request read from file.
func (c *Correlator) Request(file string, req *httpparse.Request) {
	link := reqLink(file, req)
	c.advance(req.Time)
	h := c.touchHost(msgHostKey(req.Host, req.Server), req.Time)
	hk := h.name // the host's own copy: values keep it
	h.plaintext = true
	client := req.Client.Addr().Unmap()
	if req.Method == "POST" && isLoginPath(req.Path) {
		l := link
		l.Kind = "login"
		c.login(h, client, l)
		defer c.recheckLogins(h, client) // requests after the login may have arrived first
	}
	for _, ck := range req.Cookies {
		cls := c.requestClass(ck)
		if !cls.Session || ck.Value == "" {
			continue
		}
		k := c.valueKey(hk, ck.Name, ck.Value)
		var val *rules.Value
		if v := c.values[k]; v != nil {
			val = v.val // the same value: the same rules.Value
		} else {
			val = rules.NewValue(ck.Value, false)
		}
		// e stays on the stack unless the state keeps it (stored, shared by
		// ns.exposed and v.sent).
		e := exposure{link: link, val: val, direction: "request",
			client: req.Client, server: req.Server, method: req.Method, path: req.Path, cls: cls}
		var stored *exposure
		if ns := c.name(h, ck.Name, true); ns != nil {
			if ns.exposed == nil || before(e.link, ns.exposed.link) {
				stored = new(exposure)
				*stored = e
				h.expose(ns, stored)
			}
			c.mixedScheme(h, ck.Name, ns)
		}
		v := c.trackValue(k, hk, ck.Name, ck.Value, val, req.Time)
		if v.sent == nil || before(e.link, v.sent.link) {
			if stored == nil {
				stored = new(exposure)
				*stored = e
			}
			v.sent = stored
			v.server = req.Server.Addr().Unmap()
		}
		c.use(h, v, client, &e)
	}
}

// requestClass is Classifier.RequestCookieClass, which depends on the
// cookie's name only, remembered for up to maxClassNames names.
func (c *Correlator) requestClass(ck httpparse.Cookie) rules.SessionClass {
	if cls, ok := c.reqClass[ck.Name]; ok {
		return cls
	}
	cls := c.cfg.Classifier.RequestCookieClass(httpparse.Cookie{Name: ck.Name})
	if len(c.reqClass) < maxClassNames {
		c.reqClass[strings.Clone(ck.Name)] = cls
	}
	return cls
}

// setCookieClass is Classifier.SetCookieClass. Without HttpOnly the value's
// shape does not count, so the class is the request cookie's of the same
// name, remembered (TestSetCookieClassByName holds the two to that).
func (c *Correlator) setCookieClass(sc httpparse.SetCookie) rules.SessionClass {
	if !sc.HttpOnly {
		return c.requestClass(httpparse.Cookie{Name: sc.Name})
	}
	return c.cfg.Classifier.SetCookieClass(sc)
}

// use records that client sent value v in e, and checks session-reuse and
// session-not-rotated.
func (c *Correlator) use(h *host, v *value, client netip.Addr, e *exposure) {
	var cu *clientUse
	for i := range v.clients {
		if v.clients[i].addr == client {
			cu = &v.clients[i]
		}
	}
	if cu == nil {
		if len(v.clients) >= maxClients {
			c.evict["client-limit"]++
			return
		}
		v.clients = append(v.clients, clientUse{addr: client, first: *e, last: *e})
		cu = &v.clients[len(v.clients)-1]
		c.index(v, cu)
	} else {
		if before(e.link, cu.first.link) {
			cu.first = *e
		}
		if before(cu.last.link, e.link) {
			cu.last = *e
		}
	}
	// session-reuse: another client within the window.
	if !v.reuse {
		var other *exposure
		for i := range v.clients {
			if o := &v.clients[i]; o.addr != client {
				if near := closest(o, e.link); near.link.Time.Sub(e.link.Time).Abs() <= c.cfg.Window {
					other = &near
					break
				}
			}
		}
		if c.holds("session-reuse", Fact{Session: true, SentPlain: true, OtherClient: other != nil}) {
			v.reuse = true
			c.emit("session-reuse", v.host, v.name, e, []rules.Link{other.link, e.link}, rules.Tentative)
		}
	}
	c.notRotated(h, v, cu)
}

// closest returns the use of o nearest in time to l.
func closest(o *clientUse, l rules.Link) exposure {
	if l.Time.Sub(o.first.link.Time).Abs() <= l.Time.Sub(o.last.link.Time).Abs() {
		return o.first
	}
	return o.last
}

// notRotated fires session-not-rotated when the client sent v at or before
// one of its logins on the host and again after it.
func (c *Correlator) notRotated(h *host, v *value, cu *clientUse) {
	if cu.rotated {
		return
	}
	for _, login := range h.logins[cu.addr] {
		f := Fact{Session: true, SentPlain: true,
			SentBeforeLogin: !before(login, cu.first.link),
			SentAfterLogin:  before(login, cu.last.link)}
		if c.holds("session-not-rotated", f) {
			cu.rotated = true
			chain := []rules.Link{cu.first.link, login, cu.last.link}
			if cu.first.link.Frame == login.Frame && cu.first.link.File == login.File { // the login request itself carried the value
				chain = chain[1:]
			}
			last := cu.last
			c.emit("session-not-rotated", v.host, v.name, &last, chain, rules.Firm)
			return
		}
	}
}

// login records a login of client on host h and re-checks that client's values.
func (c *Correlator) login(h *host, client netip.Addr, l rules.Link) {
	if h.logins == nil {
		h.logins = map[netip.Addr][]rules.Link{}
	}
	ls, ok := h.logins[client]
	if !ok && len(h.logins) >= c.cfg.MaxLogins {
		c.evict["login-limit"]++
		h.lossy = true
		return
	}
	if len(ls) >= maxLoginsEach {
		ls = ls[1:]
	}
	h.logins[client] = append(ls, l)
}

// Response records a plaintext response read from file.
func (c *Correlator) Response(file string, resp *httpparse.Response) {
	host := ""
	var reqL *rules.Link
	if resp.Request != nil {
		host = resp.Request.Host
		l := reqLink(file, resp.Request)
		reqL = &l
	}
	loc := header(resp.Headers, "Location")
	link := respLink(file, resp, loc)
	c.advance(resp.Time)
	h := c.touchHost(msgHostKey(host, resp.Server), resp.Time)
	hk := h.name // the host's own copy: values keep it
	h.plaintext = true
	if hasHeader(resp.Headers, "Strict-Transport-Security") {
		h.hsts = true
	}
	redirect := resp.Status/100 == 3 && isHTTPS(loc)
	client := resp.Client.Addr().Unmap()
	method, path := "", ""
	if resp.Request != nil {
		method, path = resp.Request.Method, resp.Request.Path
	}
	loggedIn := false
	for _, sc := range resp.SetCookies {
		if sc.Err != nil {
			continue // browsers ignore the line
		}
		cls := c.setCookieClass(sc)
		del := sc.Deletes(resp.Time)
		if !del && isAuthCookie(sc.Name) {
			loggedIn = true
		}
		var val *rules.Value
		if cls.Session && !del && sc.Value != "" {
			v := c.valueState(hk, sc.Name, sc.Value, resp.Time)
			v.setPlain = true
			val = v.val // the same value: the same rules.Value
		} else {
			val = rules.NewValue(sc.Value, false)
		}
		e := &exposure{link: link, val: val, direction: "response",
			client: resp.Client, server: resp.Server, method: method, path: path, status: resp.Status,
			deletion: del, req: reqL, cls: cls}
		if f := (Fact{Redirect: redirect, SetsSession: cls.Session && !del}); c.holds("redirect-sets-session", f) {
			chain := []rules.Link{link}
			if reqL != nil {
				chain = append(chain, *reqL)
			}
			c.emit("redirect-sets-session", hk, sc.Name, e, chain, rules.Certain)
		}
		ns := c.name(h, sc.Name, cls.Session)
		if ns == nil {
			continue
		}
		if cls.Session && !del {
			if ns.exposed == nil || before(e.link, ns.exposed.link) {
				h.expose(ns, e)
			}
			c.mixedScheme(h, sc.Name, ns)
		}
		// secure-cookie-shadowed: the earliest Secure set against the latest set without it.
		if sc.Secure {
			if ns.secure == nil || before(link, *ns.secure) {
				l := link
				ns.secure = &l
			}
		} else if ns.insecure == nil || before(ns.insecure.link, link) {
			ns.insecure = e
		}
		if !ns.shadowed && ns.secure != nil && ns.insecure != nil {
			f := Fact{SecureEarlier: true, InsecureSetLater: before(*ns.secure, ns.insecure.link), Deletion: ns.insecure.deletion}
			if c.holds("secure-cookie-shadowed", f) {
				ns.shadowed = true
				c.emit("secure-cookie-shadowed", hk, sc.Name, ns.insecure, []rules.Link{*ns.secure, ns.insecure.link}, rules.Firm)
			}
		}
	}
	if loggedIn {
		l := link
		l.Kind = "login"
		c.login(h, client, l)
		c.recheckLogins(h, client)
	}
}

// recheckLogins checks session-not-rotated for a client's values on h after
// a login arrived (it may arrive after the requests it splits).
// It visits the client's values on the host (byClient) in the order of the
// value list, most recently used first.
func (c *Correlator) recheckLogins(h *host, client netip.Addr) {
	vs := c.byClient[hostClient{h.name, client}]
	sorted := len(vs) > 1
	if sorted {
		vs = append(c.recheck[:0], vs...)
		slices.SortFunc(vs, func(a, b *value) int { return cmp.Compare(b.used, a.used) })
	}
	for _, v := range vs {
		for i := range v.clients {
			if v.clients[i].addr == client {
				c.notRotated(h, v, &v.clients[i])
			}
		}
	}
	if sorted {
		clear(vs)
		c.recheck = vs[:0]
	}
}

// decideValue decides the AtEnd rules of a value leaving the state.
func (c *Correlator) decideValue(v *value) {
	if v.sent == nil || v.decided {
		return
	}
	v.decided = true
	if h := c.hosts[v.host]; h != nil {
		for i := range v.clients {
			c.notRotated(h, v, &v.clients[i])
		}
	}
	leaked, tl := c.leaked(v)
	if !leaked {
		return
	}
	if s := v.setTLS; s != nil && !s.secure && before(s.link, v.sent.link) {
		// Exact: the decrypted response set this value without Secure.
		c.emit("cookie-set-over-tls-leaked", v.host, v.name, v.sent, []rules.Link{s.link, v.sent.link}, rules.Certain)
		return
	}
	if tl == nil { // the host is known over TLS only from a decrypted response
		l := v.setTLS.link
		tl = &l
	}
	conf := rules.Firm
	if h := c.hosts[v.host]; h == nil || h.lossy || !before(*tl, v.sent.link) {
		// State was dropped, or no TLS connection preceded the leak (the value
		// may have been set before the capture started).
		conf = rules.Tentative
	}
	c.emit("cookie-set-over-tls-leaked", v.host, v.name, v.sent, []rules.Link{*tl, v.sent.link}, conf)
}

// leaked reports whether cookie-set-over-tls-leaked holds for a value sent
// in plaintext, and the TLS link of its host (tlsFor), if any.
func (c *Correlator) leaked(v *value) (bool, *rules.Link) {
	tl := c.tlsFor(v.host, v.server, v.sent.link)
	f := Fact{Session: true, SentPlain: true, Plaintext: true, SetPlain: v.setPlain, HostTLS: tl != nil || v.setTLS != nil}
	return c.holds("cookie-set-over-tls-leaked", f), tl
}

// End decides every pending rule at the end of input and returns the
// findings not yet taken. The state is kept for Hosts and Stats.
func (c *Correlator) End() []rules.Finding {
	// Room for the leaks about to be decided (the bulk of End's findings),
	// so the findings are not copied as the slice grows.
	n := len(c.out)
	for e := c.valLR.Back(); e != nil; e = e.Prev() {
		if v := e.Value.(*value); v.sent != nil && !v.decided {
			if ok, _ := c.leaked(v); ok {
				n++
			}
		}
	}
	c.out = slices.Grow(c.out, n-len(c.out))
	for e := c.valLR.Back(); e != nil; e = e.Prev() {
		c.decideValue(e.Value.(*value))
	}
	for e := c.hostLR.Back(); e != nil; e = e.Prev() {
		c.mixedSchemes(e.Value.(*host))
	}
	return c.Take()
}

// Stats returns the state's size and evictions.
func (c *Correlator) Stats() Stats {
	ev := map[string]uint64{}
	for k, n := range c.evict {
		if n > 0 {
			ev[k] = n
		}
	}
	return Stats{Hosts: len(c.hosts), Values: len(c.values), Evictions: ev}
}

// Host is one host's row of the host report.
type Host struct {
	Host           string
	TLS, Plaintext bool
	HSTS           bool     // Strict-Transport-Security seen in a plaintext response
	Decrypted      bool     // messages inside TLS were decrypted with a key log
	TLSVersions    []string // chosen by ServerHellos
	ALPN           []string // offered by ClientHellos
	SessionCookies int      // session cookie names seen crossing plaintext HTTP
	First, Last    time.Time
}

// Hosts returns the host rows, sorted by host.
func (c *Correlator) Hosts() []Host {
	out := make([]Host, 0, len(c.hosts))
	for _, h := range c.hosts {
		n := 0
		for _, ns := range h.names {
			if ns.session && ns.exposed != nil {
				n++
			}
		}
		out = append(out, Host{Host: h.name, TLS: h.tls != nil || h.decrypted, Plaintext: h.plaintext, HSTS: h.hsts, Decrypted: h.decrypted,
			TLSVersions: slices.Clone(h.versions), ALPN: slices.Clone(h.alpn), SessionCookies: n, First: h.first, Last: h.last})
	}
	slices.SortFunc(out, func(a, b Host) int { return strings.Compare(a.Host, b.Host) })
	return out
}

func reqLink(file string, req *httpparse.Request) rules.Link {
	return rules.Link{Kind: "request", File: file, Frame: req.Frame, Time: req.Time, Detail: req.Method + " " + clip(req.Path)}
}

// respLink is the link of a response whose Location header is loc.
func respLink(file string, resp *httpparse.Response, loc string) rules.Link {
	var buf [256]byte
	d := strconv.AppendInt(buf[:0], int64(resp.Status), 10)
	if resp.Request != nil {
		d = append(append(append(append(d, " to "...), resp.Request.Method...), ' '), clip(resp.Request.Path)...)
	}
	if loc != "" {
		d = append(append(d, " → "...), clip(loc)...)
	}
	return rules.Link{Kind: "response", File: file, Frame: resp.Frame, Time: resp.Time, Detail: string(d)}
}

// header returns the value of the first header field named n.
func header(hs []httpparse.Header, n string) string {
	for _, h := range hs {
		if len(h.Name) == len(n) && strings.EqualFold(h.Name, n) {
			return h.Value
		}
	}
	return ""
}

// hasHeader reports whether a header field named n is present.
func hasHeader(hs []httpparse.Header, n string) bool {
	for _, h := range hs {
		if len(h.Name) == len(n) && strings.EqualFold(h.Name, n) {
			return true
		}
	}
	return false
}

func isHTTPS(loc string) bool {
	return len(loc) >= 8 && strings.EqualFold(loc[:8], "https://")
}

// clip bounds traffic-derived text kept in links. A query string may carry
// tokens, so it is cut off.
func clip(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i] + "?…"
	}
	if len(s) > maxDetail {
		s = s[:maxDetail] + "…"
	}
	return s
}

// sessionOf is the classification as findings carry it.
func sessionOf(cls rules.SessionClass) rules.Session {
	return rules.Session{Session: cls.Session, Confidence: cls.Confidence.String(), Reason: cls.Reason}
}
