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
	cfg     Config
	mac     hash.Hash // HMAC-SHA256 keyed with the run's key, Reset for each value
	hosts   map[string]*host
	hostLR  *list.List // of *host, most recently seen first
	vindex  []int32    // slot+1 of each tracked value by its key (values.go: lookup)
	nvalues int        // values tracked
	// The value slots, in chunks of valueChunk; vhead and vtail are the most
	// and least recently used (-1 when none), vfree the first free slot.
	vchunks             [][]value
	vhead, vtail, vfree int32
	tick                uint64 // last value.used handed out
	// byClient indexes the tracked values by host and client address (each
	// value under every client of its clients list), so a login re-checks
	// only its client's values on its host.
	byClient map[hostClient][]int32
	now      time.Time // latest capture time seen
	out      []rules.Finding
	evict    map[string]uint64
	fold     rules.Folder        // Sink's
	foldF    rules.Finding       // what folded offers to fold, reused (a Finding is 400 bytes; fold keeps no pointer to it)
	add      func(rules.Finding) // Sink's: findings go there instead of out

	macIn   []byte   // reused: the hashed bytes of a value
	macSum  [32]byte // reused: the HMAC
	recheck []int32  // reused by recheckLogins
	fpIn    []byte   // reused: the bytes of a value fingerprinted
	rec     []byte   // reused: a request record (encodeReq)
	recBody []byte   // reused by encodeReq
	evBuf   []byte   // reused by store

	reqClass map[string]nameClass // by cookie name (class)
	// Host keys and cookie names the values refer to (values.go: refStr).
	strs    []string
	strRefs []uint32
	strIDs  map[string]strID
	strFree []strID
	// Of the values in these slots: the clients after the first, and where
	// the value was set inside decrypted TLS (values.go, tls.go).
	moreClients map[int32][]clientUse
	tlsSets     map[int32]*tlsSet
	files       []string          // file names of request records, by index
	fileIDs     map[string]uint32 // index of each name in files
}

// hostClient keys Correlator.byClient: the host key's id (values.go:
// refStr) and the client address, 24 bytes without pointers.
type hostClient struct {
	host   strID
	client addr
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
		vhead: -1, vtail: -1, vfree: -1, byClient: map[hostClient][]int32{},
		reqClass: map[string]nameClass{}, strIDs: map[string]strID{}, moreClients: map[int32][]clientUse{}, tlsSets: map[int32]*tlsSet{}, fileIDs: map[string]uint32{},
		evict: map[string]uint64{}}, nil
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
	exposed  *exposure   // first plaintext occurrence of the session cookie, until mixed
	mixed    bool        // mixed-scheme-session fired (and exposed, no longer needed, was let go)
	secure   *rules.Link // earliest plaintext Set-Cookie with Secure
	insecure *exposure   // latest plaintext Set-Cookie without Secure
	shadowed bool        // secure-cookie-shadowed fired (and secure and insecure, no longer needed, were let go)
}

// exposure is one plaintext message carrying a cookie, as a finding needs it.
type exposure struct {
	link           rules.Link
	val            fingerprint // the cookie value as findings show it
	direction      string
	client, server netip.AddrPort
	method, path   string
	status         int
	deletion       bool
	req            *rules.Link // the request a response answers
	cls            rules.SessionClass
}

// keepMessageText makes e's text from its message (method and path) copies
// of its own: a message's strings point into storage that is reused once the
// Correlator returns (Arena), or into one copy of its head, which an
// exposure the state keeps for the rest of the run would otherwise keep
// alive, as would a cookie name or host key kept from one (name,
// touchHost). prev is a path kept already, taken instead of a copy when it
// is the same.
func (e *exposure) keepMessageText(prev string) {
	switch e.method { // the common ones without a copy each
	case "GET":
		e.method = "GET"
	case "POST":
		e.method = "POST"
	case "HEAD":
		e.method = "HEAD"
	default:
		e.method = strings.Clone(e.method)
	}
	if e.path == prev {
		e.path = prev
	} else {
		e.path = strings.Clone(e.path)
	}
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
// recently seen host over MaxHosts). key may point into a message or a
// reused buffer: a new host keeps a copy.
func (c *Correlator) touchHost(key string, t time.Time) *host {
	h := c.hosts[key]
	if h == nil {
		key = strings.Clone(key)
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
	h.names[strings.Clone(n)] = ns // n points into its message's head (keepMessageText)
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
	ls, lns := limit.Unix(), int32(limit.Nanosecond())
	for c.vtail >= 0 {
		v := c.val(c.vtail)
		if v.lastSec > ls || v.lastSec == ls && v.lastNsec >= lns { // not before limit
			return
		}
		c.dropValue(c.vtail, "value-window")
	}
}

func (c *Correlator) dropValue(vi int32, why string) {
	c.decideValue(vi)
	v := c.val(vi)
	c.unlink(vi)
	c.removeIndex(v.key)
	for i := range int(v.nclients) {
		c.unindex(vi, i)
	}
	c.freeValue(vi)
	c.evict[why]++
}

// index adds value vi to byClient under its client ci, its newest.
func (c *Correlator) index(vi int32, ci int) {
	v := c.val(vi)
	cu := c.client(vi, ci)
	k := hostClient{v.host, cu.addr}
	vs := c.byClient[k]
	cu.idx = int32(len(vs))
	c.byClient[k] = append(vs, vi)
}

// unindex removes value vi from byClient under its client ci.
func (c *Correlator) unindex(vi int32, ci int) {
	v := c.val(vi)
	cu := c.client(vi, ci)
	k := hostClient{v.host, cu.addr}
	vs := c.byClient[k]
	last := int32(len(vs) - 1)
	if cu.idx != last { // move the last one into the hole
		wi := vs[last]
		vs[cu.idx] = wi
		for j := range int(c.val(wi).nclients) {
			if wc := c.client(wi, j); wc.addr == cu.addr {
				wc.idx = cu.idx
			}
		}
	}
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

// valueState returns the slot of a value of host/name, creating it.
func (c *Correlator) valueState(hostKey, cookie, val string, t time.Time) int32 {
	return c.trackValue(c.valueKey(hostKey, cookie, val), hostKey, cookie, val, t)
}

// trackValue returns the slot of the value of host/name whose key is k,
// marked used at t, creating it.
func (c *Correlator) trackValue(k [16]byte, hostKey, cookie, val string, t time.Time) int32 {
	c.tick++
	if vi, ok := c.lookup(k); ok {
		v := c.val(vi)
		v.usedAt(t)
		v.used = c.tick
		c.unlink(vi)
		c.pushFront(vi)
		return vi
	}
	vi := c.allocValue()
	v := c.val(vi)
	v.key, v.host, v.name, v.used = k, c.refStr(hostKey), c.refStr(cookie), c.tick
	v.lastSec, v.lastNsec = t.Unix(), int32(t.Nanosecond())
	v.fp = c.fingerprint(val)
	c.pushFront(vi)
	c.insertIndex(vi)
	for c.nvalues > c.cfg.MaxValues {
		c.dropValue(c.vtail, "value-limit")
	}
	return vi
}

// tlsFor returns the TLS link that makes a plaintext message at link at, to
// host h (nil: not tracked) at server address addr, one of "a host seen over TLS": a
// hello by name (SNI), else a TLS connection without SNI to the same server
// address. It prefers the latest hello before at, else the earliest after.
func (c *Correlator) tlsFor(h *host, addr netip.Addr, at rules.Link) *rules.Link {
	var buf [4]*rules.Link
	cands := buf[:0]
	if h != nil && h.tls != nil {
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
				h.alpn = append(h.alpn, strings.Clone(p))
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
	// Only the names mixedScheme does not return at once for, sorted: a
	// name's call changes no other name's state. Most hosts have a few.
	type named struct {
		n  string
		ns *name
	}
	var buf [16]named
	todo := buf[:0]
	for n, ns := range h.names {
		if !ns.mixed && ns.exposed != nil {
			todo = append(todo, named{n, ns})
		}
	}
	slices.SortFunc(todo, func(a, b named) int { return strings.Compare(a.n, b.n) })
	for _, t := range todo {
		c.mixedScheme(h, t.n, t.ns)
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
	tl := c.tlsFor(h, e.server.Addr(), e.link)
	f := Fact{Session: ns.session, Plaintext: true, HostTLS: tl != nil, Deletion: e.deletion}
	if !c.holds(ruleMixed, f) {
		return
	}
	ns.mixed = true
	h.unmixed--
	// The rule fires once per name, and nothing else reads the exposure:
	// let it go (about half the names' exposures on the generated captures).
	ns.exposed = nil
	var atBuf [3]rules.Link
	at := append(atBuf[:0], *tl, e.link) // the chain's positions, as below
	if e.req != nil {
		at = append(at, *e.req)
	}
	if c.folded(ruleMixed, h.name, cookie, at...) {
		return
	}
	chain := []rules.Link{*tl}
	if e.req != nil {
		chain = append(chain, *e.req)
	}
	c.emit(ruleMixed, h.name, cookie, e, append(chain, e.link), rules.Firm)
}

// Catalogue indices of the rules, looked up once: holds runs for every
// session value a message carries.
var (
	ruleLeaked     = byID("cookie-set-over-tls-leaked")
	ruleMixed      = byID("mixed-scheme-session")
	ruleRedirect   = byID("redirect-sets-session")
	ruleShadowed   = byID("secure-cookie-shadowed")
	ruleNotRotated = byID("session-not-rotated")
	ruleReuse      = byID("session-reuse")
)

func (c *Correlator) holds(rule int, f Fact) bool { return catalogue[rule].Holds(f) }

// emit appends a finding whose evidence is e (the decisive message) and chain.
func (c *Correlator) emit(i int, hostKey, cookie string, e *exposure, chain []rules.Link, conf rules.Confidence) {
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
		Cookie: cookie, Value: e.val.value(), Session: sessionOf(e.cls), Direction: e.direction,
		Deletion: e.deletion, Host: hostKey, Client: e.client, Server: e.server,
		File: last.File, Frame: last.Frame, Time: last.Time, LastTime: last.Time,
		Method: e.method, Path: e.path, Status: e.status, Count: 1, Chain: chain,
	}
	f.Fingerprint = rules.Fingerprint(r.ID, hostKey, cookie) // what --baseline matches on, as for every rule
	f.SetOrder(i)
	if c.add != nil {
		c.add(f)
		return
	}
	c.out = append(c.out, f)
}

// Sink makes the Correlator hand each finding to add as soon as it is
// decided, instead of keeping it for Take or Drain, after offering it to
// fold (rules.Aggregator.Fold; nil: none) with only what folding reads set:
// rule, severity, host, cookie, count, and the file, frame and time of the
// last link of its chain. A finding fold takes is not built: for the rules
// that fire for many values of one host and cookie name (leaks at End,
// mixed schemes, logins), decoding the request records, the value's
// rules.Value and the chain's text would be thrown away by the fold.
// Findings reach add in the order they are decided, so fold sees every
// earlier one already added, as Add would. The Finding fold is given is
// valid only during the call (it is reused).
func (c *Correlator) Sink(fold rules.Folder, add func(rules.Finding)) {
	c.fold, c.add = fold, add
}

// folded offers the finding of rule i about host and cookie, whose chain
// holds links (only their positions are read), to the Sink's fold, and
// reports whether it took it. Without a Sink nothing is folded.
func (c *Correlator) folded(i int, hostKey, cookie string, links ...rules.Link) bool {
	if c.fold == nil {
		return false
	}
	last := links[0] // the chain's last once emit sorts it (stably)
	for _, l := range links[1:] {
		if !before(l, last) {
			last = l
		}
	}
	r := catalogue[i]
	c.foldF = rules.Finding{Rule: r.ID, Severity: r.Severity, Host: hostKey, Cookie: cookie, Count: 1,
		File: last.File, Frame: last.Frame, Time: last.Time, LastTime: last.Time}
	return c.fold(&c.foldF)
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
	// The link's detail (reqLink's) is text built only when the state keeps
	// the link or a finding shows it: most requests need only its position.
	link := rules.Link{Kind: "request", File: file, Frame: req.Frame, Time: req.Time}
	c.advance(req.Time)
	h := c.touchHost(msgHostKey(req.Host, req.Server), req.Time)
	hk := h.name // the host's own copy: values keep it
	h.plaintext = true
	client := req.Client.Addr().Unmap()
	if req.Method == "POST" && isLoginPath(req.Path) {
		link.Detail = reqDetail(req)
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
		// e stays on the stack; the name's state keeps a copy when it is the
		// earliest exposure, the value's state its encoded record (use).
		e := exposure{link: link, direction: "request",
			client: req.Client, server: req.Server, method: req.Method, path: req.Path, cls: cls}
		if ns := c.name(h, ck.Name, true); ns != nil {
			if !ns.mixed && (ns.exposed == nil || before(e.link, ns.exposed.link)) {
				stored := new(exposure)
				*stored = e
				stored.keepMessageText("")
				if stored.link.Detail == "" {
					stored.link.Detail = reqDetail(req)
				}
				stored.val = c.fingerprint(ck.Value)
				h.expose(ns, stored)
			}
			c.mixedScheme(h, ck.Name, ns)
		}
		vi := c.trackValue(k, hk, ck.Name, ck.Value, req.Time)
		v := c.val(vi)
		setSent := v.sent == 0 || before(e.link, c.head(v, v.sent))
		c.use(h, vi, client, &e, file, req, setSent)
	}
}

// nameClass is what the correlator remembers of a cookie name's class.
type nameClass struct {
	cls rules.SessionClass // Classifier.RequestCookieClass: by name only
	// byName: the name alone decides the class of a Set-Cookie with HttpOnly
	// too (the classifier never reaches the value's shape for it).
	byName bool
}

// shapeProbe is a value the classifier's value-shape test takes for a
// random session identifier (TestShapeProbe). A name whose class with it is
// its class without a value decides before the value's shape is looked at:
// the classifier is a pure function of name and value, and a name that falls
// through to the shape test would give this value a "value shape" class.
const shapeProbe = "Zx8Qm2Lr7Vt4Np1Ks9Wd3Hy6Bc5Gf0Aj"

// class returns the remembered class of a cookie name, working it out
// when there is room to remember it (maxClassNames names); ok is false
// when there is not, and then nothing was worked out.
func (c *Correlator) class(n string) (nc nameClass, ok bool) {
	if nc, ok := c.reqClass[n]; ok {
		return nc, true
	}
	if len(c.reqClass) >= maxClassNames {
		return nameClass{}, false
	}
	cl := c.cfg.Classifier
	nc = nameClass{cls: cl.RequestCookieClass(httpparse.Cookie{Name: n})}
	nc.byName = cl.SetCookieClass(httpparse.SetCookie{Name: n, Value: shapeProbe, HttpOnly: true}) == nc.cls
	c.reqClass[strings.Clone(n)] = nc
	return nc, true
}

// requestClass is Classifier.RequestCookieClass, which depends on the
// cookie's name only, remembered.
func (c *Correlator) requestClass(ck httpparse.Cookie) rules.SessionClass {
	if nc, ok := c.class(ck.Name); ok {
		return nc.cls
	}
	return c.cfg.Classifier.RequestCookieClass(httpparse.Cookie{Name: ck.Name})
}

// setCookieClass is Classifier.SetCookieClass. Without HttpOnly the value's
// shape does not count, so the class is the request cookie's of the same
// name, remembered; with HttpOnly too when the name decides before the
// value's shape (most Set-Cookies: a known session or tracker name). The
// classifier runs only for the others, and for names not remembered
// (TestSetCookieClassByName holds the two to that).
func (c *Correlator) setCookieClass(sc httpparse.SetCookie) rules.SessionClass {
	if nc, ok := c.class(sc.Name); ok && (!sc.HttpOnly || nc.byName) {
		return nc.cls
	}
	return c.cfg.Classifier.SetCookieClass(sc)
}

// use records that client sent value vi in e (the request req read from
// file; sent is to point to it when setSent), and checks session-reuse and
// session-not-rotated.
func (c *Correlator) use(h *host, vi int32, client netip.Addr, e *exposure, file string, req *httpparse.Request, setSent bool) {
	v := c.val(vi)
	ca := packAddr(client)
	ci := -1
	for i := range int(v.nclients) {
		if c.client(vi, i).addr == ca {
			ci = i
		}
	}
	setFirst, setLast := false, false
	if ci < 0 {
		if int(v.nclients) >= maxClients {
			c.evict["client-limit"]++
			if setSent {
				c.store(vi, c.encodeReq(file, req), true, -1, false, false)
			}
			return
		}
		ci = c.addClient(vi, ca)
		setFirst, setLast = true, true
		c.index(vi, ci)
	} else {
		cu := c.client(vi, ci)
		setFirst = before(e.link, c.head(v, cu.first))
		setLast = before(c.head(v, cu.last), e.link)
	}
	if setSent || setFirst || setLast {
		c.store(vi, c.encodeReq(file, req), setSent, ci, setFirst, setLast)
	}
	// session-reuse: another client within the window.
	if !v.reuse {
		var other ref
		for i := range int(v.nclients) {
			if o := c.client(vi, i); o.addr != ca {
				if near, t := c.closest(v, o, e.link); t.Sub(e.link.Time).Abs() <= c.cfg.Window {
					other = near
					break
				}
			}
		}
		if c.holds(ruleReuse, Fact{Session: true, SentPlain: true, OtherClient: other != 0}) {
			v.reuse = true
			e.val = v.fp
			if e.link.Detail == "" {
				e.link.Detail = reqDetail(req)
			}
			c.emit(ruleReuse, c.str(v.host), c.str(v.name), e, []rules.Link{c.link(v, other), e.link}, rules.Tentative)
		}
	}
	c.notRotated(h, vi, ci)
}

// closest returns the use of o nearest in time to l, and its time.
func (c *Correlator) closest(v *value, o *clientUse, l rules.Link) (ref, time.Time) {
	ft, lt := c.head(v, o.first).Time, c.head(v, o.last).Time
	if l.Time.Sub(ft).Abs() <= l.Time.Sub(lt).Abs() {
		return o.first, ft
	}
	return o.last, lt
}

// notRotated fires session-not-rotated when the client ci sent value vi at
// or before one of its logins on the host and again after it.
func (c *Correlator) notRotated(h *host, vi int32, ci int) {
	v := c.val(vi)
	cu := c.client(vi, ci)
	if cu.rotated {
		return
	}
	logins := h.logins[cu.addr.unpack()]
	if len(logins) == 0 {
		return
	}
	first, last := c.head(v, cu.first), c.head(v, cu.last)
	for _, login := range logins {
		f := Fact{Session: true, SentPlain: true,
			SentBeforeLogin: !before(login, first),
			SentAfterLogin:  before(login, last)}
		if c.holds(ruleNotRotated, f) {
			cu.rotated = true
			at := []rules.Link{first, login, last} // the chain's positions, as below
			if first.Frame == login.Frame && first.File == login.File {
				at = at[1:]
			}
			if c.folded(ruleNotRotated, c.str(v.host), c.str(v.name), at...) {
				return
			}
			chain := []rules.Link{c.link(v, cu.first), login, c.link(v, cu.last)}
			if first.Frame == login.Frame && first.File == login.File { // the login request itself carried the value
				chain = chain[1:]
			}
			le := c.exposureAt(v, cu.last)
			c.emit(ruleNotRotated, c.str(v.host), c.str(v.name), &le, chain, rules.Firm)
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
	if resp.Request != nil {
		host = resp.Request.Host
	}
	loc := header(resp.Headers, "Location")
	// The links' details (respLink's and reqLink's) are text built only when
	// the state keeps a link or a finding shows it (full): decisions need
	// only their positions, and most responses neither.
	link := rules.Link{Kind: "response", File: file, Frame: resp.Frame, Time: resp.Time}
	var reqL *rules.Link // the request's link, once full
	detailed := false
	full := func() {
		if detailed {
			return
		}
		detailed = true
		link = respLink(file, resp, loc)
		if resp.Request != nil {
			l := reqLink(file, resp.Request)
			reqL = &l
		}
	}
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
		var fp fingerprint // the value's, when it is tracked
		tracked := cls.Session && !del && sc.Value != ""
		if tracked {
			v := c.val(c.valueState(hk, sc.Name, sc.Value, resp.Time))
			v.setPlain = true
			fp = v.fp
		}
		// The exposure of this Set-Cookie, built (with its rules.Value) only
		// when a finding or the name's state needs it.
		// reuse, if not nil, is an exposure the state lets go of, whose
		// storage (and path, if the same) the new one may take.
		var e *exposure
		exp := func(reuse *exposure) *exposure {
			if e == nil {
				full()
				prevPath := ""
				if reuse == nil {
					reuse = new(exposure)
				} else {
					prevPath = reuse.path
				}
				*reuse = exposure{link: link, direction: "response",
					client: resp.Client, server: resp.Server, method: method, path: path, status: resp.Status,
					deletion: del, req: reqL, cls: cls}
				e = reuse
				e.keepMessageText(prevPath)
				if tracked {
					e.val = fp
				} else {
					e.val = c.fingerprint(sc.Value)
				}
			}
			return e
		}
		if f := (Fact{Redirect: redirect, SetsSession: cls.Session && !del}); c.holds(ruleRedirect, f) {
			full()
			chain := []rules.Link{link}
			if reqL != nil {
				chain = append(chain, *reqL)
			}
			c.emit(ruleRedirect, hk, sc.Name, exp(nil), chain, rules.Certain)
		}
		ns := c.name(h, sc.Name, cls.Session)
		if ns == nil {
			continue
		}
		if cls.Session && !del {
			if !ns.mixed && (ns.exposed == nil || before(link, ns.exposed.link)) {
				h.expose(ns, exp(nil))
			}
			c.mixedScheme(h, sc.Name, ns)
		}
		// secure-cookie-shadowed: the earliest Secure set against the latest
		// set without it, until it fires (once per name: the two are not read
		// again, so an exposure is not built for every later Set-Cookie).
		if ns.shadowed {
			continue
		}
		if sc.Secure {
			if ns.secure == nil || before(link, *ns.secure) {
				full()
				l := link
				ns.secure = &l
			}
		} else if ns.insecure == nil || before(ns.insecure.link, link) {
			// The latest insecure Set-Cookie replaces the one before (most
			// Set-Cookies of a plaintext capture): its storage is reused
			// unless it is also the name's exposure.
			var old *exposure
			if ns.insecure != ns.exposed {
				old = ns.insecure
			}
			ns.insecure = exp(old)
		}
		if ns.secure != nil && ns.insecure != nil {
			f := Fact{SecureEarlier: true, InsecureSetLater: before(*ns.secure, ns.insecure.link), Deletion: ns.insecure.deletion}
			if c.holds(ruleShadowed, f) {
				ns.shadowed = true
				c.emit(ruleShadowed, hk, sc.Name, ns.insecure, []rules.Link{*ns.secure, ns.insecure.link}, rules.Firm)
				ns.secure, ns.insecure = nil, nil // not read again
			}
		}
	}
	if loggedIn {
		full()
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
	hid, ok := c.strIDs[h.name]
	if !ok {
		return // no value of the host is tracked
	}
	vs := c.byClient[hostClient{hid, packAddr(client)}]
	sorted := len(vs) > 1
	if sorted {
		vs = append(c.recheck[:0], vs...)
		slices.SortFunc(vs, func(a, b int32) int { return cmp.Compare(c.val(b).used, c.val(a).used) })
	}
	ca := packAddr(client)
	for _, vi := range vs {
		v := c.val(vi)
		for i := range int(v.nclients) {
			if c.client(vi, i).addr == ca {
				c.notRotated(h, vi, i)
			}
		}
	}
	if sorted {
		c.recheck = vs[:0]
	}
}

// decideValue decides the AtEnd rules of a value leaving the state.
func (c *Correlator) decideValue(vi int32) {
	v := c.val(vi)
	if v.sent == 0 || v.decided {
		return
	}
	v.decided = true
	h := c.hosts[c.str(v.host)]
	if h != nil {
		for i := range int(v.nclients) {
			c.notRotated(h, vi, i)
		}
	}
	leaked, tl := c.leaked(vi, h)
	if !leaked {
		return
	}
	// The sending request's position decides; the rest of its record is
	// decoded only for a finding that is built (folded).
	sentAt := c.head(v, v.sent)
	setTLS := c.setTLS(vi)
	if s := setTLS; s != nil && !s.secure && before(s.link, sentAt) {
		// Exact: the decrypted response set this value without Secure.
		if c.folded(ruleLeaked, c.str(v.host), c.str(v.name), s.link, sentAt) {
			return
		}
		sent := c.exposureAt(v, v.sent)
		c.emit(ruleLeaked, c.str(v.host), c.str(v.name), &sent, []rules.Link{s.link, sent.link}, rules.Certain)
		return
	}
	if tl == nil { // the host is known over TLS only from a decrypted response
		l := setTLS.link
		tl = &l
	}
	if c.folded(ruleLeaked, c.str(v.host), c.str(v.name), *tl, sentAt) {
		return
	}
	sent := c.exposureAt(v, v.sent)
	conf := rules.Firm
	if h == nil || h.lossy || !before(*tl, sent.link) {
		// State was dropped, or no TLS connection preceded the leak (the value
		// may have been set before the capture started).
		conf = rules.Tentative
	}
	c.emit(ruleLeaked, c.str(v.host), c.str(v.name), &sent, []rules.Link{*tl, sent.link}, conf)
}

// leaked reports whether cookie-set-over-tls-leaked holds for a value sent
// in plaintext, and the TLS link of its host h (tlsFor), if any.
func (c *Correlator) leaked(vi int32, h *host) (bool, *rules.Link) {
	v := c.val(vi)
	tl := c.tlsFor(h, c.server(v, v.sent), c.head(v, v.sent))
	f := Fact{Session: true, SentPlain: true, Plaintext: true, SetPlain: v.setPlain, HostTLS: tl != nil || v.tlsSet}
	return c.holds(ruleLeaked, f), tl
}

// End decides every pending rule at the end of input and returns the
// findings not yet taken. The state is kept for Hosts and Stats.
func (c *Correlator) End() []rules.Finding {
	// Room for the leaks about to be decided (the bulk of End's findings),
	// so the findings are not copied as the slice grows.
	n := len(c.out)
	for vi := c.vtail; c.add == nil && vi >= 0; vi = c.val(vi).prev {
		if v := c.val(vi); v.sent != 0 && !v.decided {
			if ok, _ := c.leaked(vi, c.hosts[c.str(v.host)]); ok {
				n++
			}
		}
	}
	c.out = slices.Grow(c.out, n-len(c.out))
	for vi := c.vtail; vi >= 0; vi = c.val(vi).prev {
		c.decideValue(vi)
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
	return Stats{Hosts: len(c.hosts), Values: c.nvalues, Evictions: ev}
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
			if ns.session && (ns.exposed != nil || ns.mixed) {
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
	return rules.Link{Kind: "request", File: file, Frame: req.Frame, Time: req.Time, Detail: reqDetail(req)}
}

// reqDetail is the detail of a request's link: method and clipped path.
func reqDetail(req *httpparse.Request) string { return req.Method + " " + clip(req.Path) }

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
