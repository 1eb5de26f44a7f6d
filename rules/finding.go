package rules

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

// Value is a cookie value as reports may show it: its length and a short
// SHA-256 fingerprint, and the value itself only when the user asked for it
// (--show-values). Cookie values are credentials.
type Value struct {
	Length      int    `json:"length"`
	Fingerprint string `json:"fingerprint"`   // "sha256:" and the first 12 hex digits
	Raw         string `json:"raw,omitempty"` // empty unless Options.ShowValues
}

func newValue(v string, show bool) *Value {
	// The Value and its fingerprint's bytes in one allocation, not three
	// (the Value, the hex and the concatenation); v is hashed in place.
	box := new(struct {
		v  Value
		fp [len("sha256:") + 12]byte
	})
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(v), len(v)))
	copy(box.fp[:], "sha256:")
	hexEncode(box.fp[len("sha256:"):], sum[:6])
	box.v = Value{Length: len(v), Fingerprint: unsafe.String(&box.fp[0], len(box.fp))}
	if show {
		box.v.Raw = v
	}
	return &box.v
}

// hexPairs is the two lower-case hex digits of each byte value, in order.
var hexPairs = func() (t [512]byte) {
	const digits = "0123456789abcdef"
	for i := range 256 {
		t[2*i], t[2*i+1] = digits[i>>4], digits[i&15]
	}
	return t
}()

// hexEncode is hex.Encode, a byte's two digits at a time from hexPairs:
// hex.Encode, a digit at a time, was 159 instructions for Fingerprint's 8
// bytes, 8.8 of the 1 GB benchmark capture's 4,613 million (callgrind),
// and newValue encodes a value's fingerprint so too.
func hexEncode(dst, src []byte) {
	_ = dst[2*len(src)-1]
	for i, b := range src {
		dst[2*i], dst[2*i+1] = hexPairs[2*int(b)], hexPairs[2*int(b)+1]
	}
}

// String is the redacted form used in tables.
func (v *Value) String() string {
	if v == nil {
		return "(not shown)"
	}
	if v.Raw != "" {
		return v.Raw
	}
	return v.Fingerprint + " (" + strconv.Itoa(v.Length) + " bytes)"
}

// Attributes is a Set-Cookie's parsed attributes as reports show them.
type Attributes struct {
	Secure      bool     `json:"secure"`
	HttpOnly    bool     `json:"httponly"`
	SameSite    string   `json:"samesite,omitempty"` // "Lax", "Strict", "None", "invalid:<raw>", "" when absent
	Domain      string   `json:"domain,omitempty"`
	Path        string   `json:"path,omitempty"`
	MaxAge      *int     `json:"max_age,omitempty"`
	Expires     string   `json:"expires,omitempty"` // RFC 3339
	Partitioned bool     `json:"partitioned,omitempty"`
	Unknown     []string `json:"unknown,omitempty"`
	Malformed   string   `json:"malformed,omitempty"` // why a browser would ignore the line
}

func newAttributes(c httpparse.SetCookie) *Attributes {
	// The Attributes, its MaxAge and Expires' bytes in one allocation.
	box := new(struct {
		a      Attributes
		maxAge int
		exp    [len("2006-01-02T15:04:05Z")]byte
	})
	a := &box.a
	*a = Attributes{Secure: c.Secure, HttpOnly: c.HttpOnly, Partitioned: c.Partitioned, Path: c.Path, Unknown: c.Unknown}
	if c.HasDomain {
		a.Domain = c.Domain
	}
	if c.HasMaxAge {
		box.maxAge = c.MaxAge
		a.MaxAge = &box.maxAge
	}
	if c.HasExpires {
		// In box.exp when it fits (years 0-9999), else where AppendFormat
		// puts it.
		b := c.Expires.UTC().AppendFormat(box.exp[:0], time.RFC3339)
		a.Expires = unsafe.String(unsafe.SliceData(b), len(b))
	}
	switch c.SameSite {
	case httpparse.SameSiteLax:
		a.SameSite = "Lax"
	case httpparse.SameSiteStrict:
		a.SameSite = "Strict"
	case httpparse.SameSiteNone:
		a.SameSite = "None"
	case httpparse.SameSiteInvalid:
		a.SameSite = "invalid:" + c.SameSiteRaw
	}
	if c.Err != nil {
		a.Malformed = c.Err.Error()
	}
	return a
}

// Session is a finding's session classification as reports show it.
type Session struct {
	Session    bool   `json:"session"`
	Confidence string `json:"confidence"`
	Reason     string `json:"reason"`
}

// FrameworkInfo is the framework a finding's fix is written for.
type FrameworkInfo struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Finding is one rule match with the evidence an analyst needs to find it in
// Wireshark: file, frame, time, the 5-tuple, host and URL path.
type Finding struct {
	Rule        string `json:"rule"`
	Title       string `json:"title"`
	CWE         int    `json:"cwe"`
	Fingerprint string `json:"fingerprint"` // stable across runs: rule, host, name (see Key)

	Subject   string        `json:"subject"` // what the rule judged: set-cookie, cookie, authorization, url-parameter, referer-parameter
	Cookie    string        `json:"cookie"`  // cookie or parameter name; header name for authorization
	Value     *Value        `json:"value,omitempty"`
	Scheme    string        `json:"scheme,omitempty"` // authorization scheme; credentials are never kept
	Session   Session       `json:"session"`
	Framework FrameworkInfo `json:"framework"`
	Fix       string        `json:"fix"`
	Direction string        `json:"direction"` // "request" or "response"
	Deletion  bool          `json:"deletion,omitempty"`

	// Severity and Confidence (reports write them by name) and pos sit in
	// the bytes after Deletion, order in those after Truncated: a Finding
	// is 512 bytes (the per-message buffer evaluate appends to holds
	// them; kept findings are records of about a quarter of that, store.go).
	Severity   Severity   `json:"-"`
	Confidence Confidence `json:"-"`
	pos        int32      // index of the cookie in its message (Cookie pairs, Set-Cookie lines), for evidence

	Attrs     *Attributes    `json:"attributes,omitempty"`
	Line      string         `json:"header,omitempty"` // the whole Set-Cookie or Cookie value; only with ShowValues
	LineIndex int            `json:"-"`                // index of that header in its message
	Message   uint64         `json:"-"`                // sequence number of the message in the run, set by the caller
	Host      string         `json:"host"`
	Client    netip.AddrPort `json:"client"`
	Server    netip.AddrPort `json:"server"`
	File      string         `json:"file,omitempty"`
	Frame     uint64         `json:"frame"`
	Time      time.Time      `json:"-"`
	Method    string         `json:"method,omitempty"`
	Path      string         `json:"path,omitempty"` // session parameters redacted unless ShowValues
	Status    int            `json:"status,omitempty"`
	TLS       bool           `json:"tls"`
	Truncated bool           `json:"truncated_header,omitempty"` // header block cut by loss or end of capture
	order     int32          // catalogue index, for sorting

	Chain []Link `json:"chain,omitempty"` // cross-connection findings: every link, oldest first (chain.go)

	Count    int       `json:"count"` // occurrences folded into this finding (1 with --each)
	LastTime time.Time `json:"-"`
}

// Hints are response headers that name the server stack, for the framework
// guess. A request's findings use those of earlier responses of its host.
type Hints struct {
	Server, PoweredBy string
}

// HintsOf returns the stack headers of a message's headers.
func HintsOf(hs []httpparse.Header) Hints {
	var h Hints
	for _, x := range hs {
		switch {
		case strings.EqualFold(x.Name, "Server"):
			h.Server = x.Value
		case strings.EqualFold(x.Name, "X-Powered-By"):
			h.PoweredBy = x.Value
		}
	}
	return h
}

// Ignore is a policy entry that suppresses findings. Empty Rules means every
// rule; Cookie and Host are path.Match patterns, case-insensitive, empty
// meaning any.
type Ignore struct {
	Rules  []string
	Cookie string
	Host   string
	Reason string
}

func (ig Ignore) matches(f *Finding) bool {
	if len(ig.Rules) > 0 && !slices.Contains(ig.Rules, f.Rule) {
		return false
	}
	if ig.Cookie != "" {
		if ok, _ := path.Match(strings.ToLower(ig.Cookie), strings.ToLower(f.Cookie)); !ok {
			return false
		}
	}
	if ig.Host != "" {
		h := strings.ToLower(f.Host)
		ok, _ := path.Match(strings.ToLower(ig.Host), h)
		if !ok {
			ok, _ = path.Match(strings.ToLower(ig.Host), hostOnly(h))
		}
		if !ok {
			return false
		}
	}
	return true
}

// Options tune Evaluate. The zero value is the default policy.
type Options struct {
	Classifier        Classifier
	ShowValues        bool                // keep raw cookie values in findings
	LifetimeThreshold time.Duration       // long-lived-session threshold; 0 means DefaultLifetimeThreshold
	NonSessionOff     bool                // AnyCookie rules skip non-session cookies instead of reporting at info
	Severity          map[string]Severity // per-rule severity overrides (for session cookies)
	Disabled          map[string]bool     // rules not run
	Ignore            []Ignore
}

func (o Options) threshold() time.Duration {
	if o.LifetimeThreshold > 0 {
		return o.LifetimeThreshold
	}
	return DefaultLifetimeThreshold
}

// Ignored returns the policy entry that suppresses f, if any.
func (o Options) Ignored(f *Finding) (Ignore, bool) {
	for _, ig := range o.Ignore {
		if ig.matches(f) {
			return ig, true
		}
	}
	return Ignore{}, false
}

// severity is the severity of rule r on o, or SeverityInvalid when policy
// turns the finding off.
func (opt *Options) severity(r *Rule, o *Observation) Severity {
	s, overridden := opt.Severity[r.ID]
	if !overridden {
		s = r.Severity
		if r.Plaintext != SeverityInvalid && !o.TLS {
			s = r.Plaintext
		}
	}
	if r.Scope == AnyCookie && !o.Session {
		if opt.NonSessionOff {
			return SeverityInvalid
		}
		s = Info
	}
	if o.Deletion {
		s = Info // a deletion exposes no live session value
	}
	return s
}

// EvaluateRequest returns the findings for one request. hints are the stack
// headers last seen from the request's host, if any.
func EvaluateRequest(req *httpparse.Request, tls bool, hints Hints, opt Options) []Finding {
	return AppendRequest(nil, req, tls, hints, opt)
}

// AppendRequest is EvaluateRequest appending to dst (a caller's reused
// buffer: the hot path then allocates no slice per message).
func AppendRequest(dst []Finding, req *httpparse.Request, tls bool, hints Hints, opt Options) []Finding {
	return evaluateRequest(dst, req, tls, hints, opt, nil)
}

// EvaluateResponse returns the findings for one response.
func EvaluateResponse(resp *httpparse.Response, tls bool, opt Options) []Finding {
	return AppendResponse(nil, resp, tls, opt)
}

// AppendResponse is EvaluateResponse appending to dst.
func AppendResponse(dst []Finding, resp *httpparse.Response, tls bool, opt Options) []Finding {
	return evaluateResponse(dst, resp, tls, opt, nil)
}

// Folder is offered each occurrence before its costly fields are built, so
// that a caller that folds occurrences (Aggregator.Fold) does not build the
// ones it folds: most occurrences of a capture repeat a finding seen
// before. The Finding it gets has its key (Rule, Host, Cookie), its
// evidence position (Frame, Client, Server and its position in the
// message), Time, LastTime, Count and Severity, and the other cheap fields
// of its message and rule; Value, Attrs, Fingerprint, Session, Framework,
// Fix, Line, Path and Status are not set yet. The Folder may set File and
// Message, which the built finding then keeps. It returns true when it took
// the occurrence (the finding is then not built, nor appended), false to
// have it built and appended.
type Folder func(f *Finding) bool

// AppendRequestFolded is AppendRequest offering each occurrence to fold first.
func AppendRequestFolded(dst []Finding, req *httpparse.Request, tls bool, hints Hints, opt Options, fold Folder) []Finding {
	return evaluateRequest(dst, req, tls, hints, opt, fold)
}

// AppendResponseFolded is AppendResponse offering each occurrence to fold first.
func AppendResponseFolded(dst []Finding, resp *httpparse.Response, tls bool, opt Options, fold Folder) []Finding {
	return evaluateResponse(dst, resp, tls, opt, fold)
}

// obsPool recycles the observation slices of evaluateRequest and
// evaluateResponse (an Observation is some 300 bytes with its SetCookie,
// and a message has several): nothing of them outlives the call, the
// findings copy what they keep.
var obsPool = sync.Pool{New: func() any { return new([]Observation) }}

func evaluateRequest(dst []Finding, req *httpparse.Request, tls bool, hints Hints, opt Options, fold Folder) []Finding {
	p := obsPool.Get().(*[]Observation)
	obs := observeRequest((*p)[:0], req, tls, opt)
	dst = evaluate(dst, obs, &req.Message, req, nil, hints, opt, fold)
	clear(obs) // keep nothing of the message
	*p = obs[:0]
	obsPool.Put(p)
	return dst
}

func evaluateResponse(dst []Finding, resp *httpparse.Response, tls bool, opt Options, fold Folder) []Finding {
	p := obsPool.Get().(*[]Observation)
	obs := observeResponse((*p)[:0], resp, tls, opt)
	dst = evaluate(dst, obs, &resp.Message, resp.Request, resp, HintsOf(resp.Headers), opt, fold)
	clear(obs)
	*p = obs[:0]
	obsPool.Put(p)
	return dst
}

func evaluate(out []Finding, obs []Observation, m *httpparse.Message, req *httpparse.Request, resp *httpparse.Response, hints Hints, opt Options, fold Folder) []Finding {
	var (
		msg       Finding // what every finding of this message shares, built once
		path      string  // msg's Path, redacted: built for the first finding kept
		pathBuilt bool

		// The framework guess of the last observation built: the hints are
		// the message's, and its cookies mostly have the same owner ("").
		guessed    bool
		guessOwner string
		guess      FrameworkGuess
		guessInfo  FrameworkInfo
	)
	setIndex := 0
	for pos := range obs {
		o := &obs[pos]
		if o.Kind == KindSetCookie {
			setIndex++
		}
		// What every finding of this observation shares, built on its
		// first finding kept only (most observations fire no rule, and
		// most findings that fire fold into one seen before).
		var (
			built bool
			value *Value
			attrs *Attributes
			g     FrameworkGuess
			fw    FrameworkInfo
			sess  Session
		)
		rs := allRules
		if int(o.Kind) < len(judging) {
			rs = judging[o.Kind][b2i(o.Session)]
		}
		for _, i := range rs {
			r := &catalogue[i] // not copied: a Rule is some 170 bytes
			if opt.Disabled[r.ID] || !r.applies(o) {
				continue
			}
			sev := opt.severity(r, o)
			if sev == SeverityInvalid {
				continue
			}
			if msg.Count == 0 {
				msg = base(m, req)
			}
			// Built in place in out: a Finding handed to fold from the
			// stack would escape, one allocation per occurrence.
			out = append(out, msg)
			f := &out[len(out)-1]
			f.Rule, f.Title, f.Confidence, f.CWE = r.ID, r.Title, r.Confidence, r.CWE
			f.TLS = tls(o)
			f.Severity, f.order, f.pos = sev, int32(i), int32(pos)
			f.Subject, f.Cookie = o.Kind.String(), o.Name
			switch o.Kind {
			case KindSetCookie:
				f.Direction, f.Deletion, f.LineIndex = "response", o.Deletion, setIndex-1
			case KindCookie:
				f.Direction, f.LineIndex = "request", o.Line
			case KindAuthorization:
				f.Direction, f.Scheme = "request", o.Scheme // the credentials stay out, even with ShowValues
			case KindURLParam, KindRefererParam:
				f.Direction = "request"
			}
			if fold != nil && fold(f) {
				out = out[:len(out)-1]
				continue
			}
			if !pathBuilt && req != nil {
				pathBuilt, path = true, req.Path
				if !opt.ShowValues {
					path = RedactTarget(req.Path, opt.Classifier)
				}
			}
			f.Path = path
			if !built {
				built = true
				switch o.Kind {
				case KindSetCookie:
					value, attrs = newValue(o.Value, opt.ShowValues), newAttributes(o.SetCookie)
				case KindCookie, KindURLParam, KindRefererParam:
					value = newValue(o.Value, opt.ShowValues)
				}
				if !guessed || o.Class.Owner != guessOwner {
					guessed, guessOwner = true, o.Class.Owner
					guess = GuessFramework(o.Class.Owner, hints.Server, hints.PoweredBy)
					d, _ := FrameworkByID(guess.ID)
					guessInfo = FrameworkInfo{ID: d.ID, Name: d.Name, Reason: guess.Reason}
				}
				g, fw = guess, guessInfo
				sess = Session{o.Session, o.Class.Confidence.String(), o.Class.Reason}
			}
			f.Session, f.Framework = sess, fw
			f.Fix = remediation(i, g.ID)
			switch o.Kind {
			case KindSetCookie:
				f.Value = value
				f.Status, f.Attrs = resp.Status, attrs
				if opt.ShowValues {
					f.Line = o.SetCookie.Raw
				}
			case KindCookie:
				f.Value = value
				if opt.ShowValues && f.LineIndex < len(req.Headers) {
					f.Line = req.Headers[f.LineIndex].Value
				}
			case KindURLParam, KindRefererParam:
				f.Value = value
			}
			if resp != nil && f.Direction == "response" {
				f.Status = resp.Status
			}
			f.Fingerprint = Fingerprint(f.Rule, f.Host, f.Cookie)
		}
	}
	return out
}

func tls(o *Observation) bool { return o.TLS }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// base is what every finding of a message shares (Count is 1: set means
// built), but for its Path, which evaluate redacts only for a finding it
// keeps.
func base(m *httpparse.Message, req *httpparse.Request) Finding {
	f := Finding{
		Client: m.Client, Server: m.Server, Frame: m.Frame, Time: m.Time, LastTime: m.Time,
		Truncated: m.Truncated, Count: 1,
	}
	if req != nil {
		f.Host, f.Method = req.Host, req.Method
	}
	if f.Host == "" {
		f.Host = m.Server.Addr().String()
	}
	return f
}

// RedactTarget replaces the values of session parameters in a request
// target (";jsessionid=…", "?PHPSESSID=…") with "REDACTED", so paths in
// reports carry no session IDs.
func RedactTarget(target string, c Classifier) string {
	if !strings.ContainsAny(target, ";?") || !hasSessionParam(target, c) {
		return target // most targets: nothing to redact, nothing built
	}
	p, q, hasQ := strings.Cut(target, "?")
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		parts := strings.Split(seg, ";")
		for j := 1; j < len(parts); j++ {
			if n, _, ok := strings.Cut(parts[j], "="); ok && c.tokenClass(n).Session {
				parts[j] = n + "=REDACTED"
			}
		}
		segs[i] = strings.Join(parts, ";")
	}
	out := strings.Join(segs, "/")
	if hasQ {
		kvs := strings.Split(q, "&")
		for i, kv := range kvs {
			n, _, ok := strings.Cut(kv, "=")
			if ok && c.tokenClass(n).Session {
				kvs[i] = n + "=REDACTED"
			}
		}
		out += "?" + strings.Join(kvs, "&")
	}
	return out
}

// hasSessionParam reports whether RedactTarget would redact a parameter
// of target: one that its splitting finds (a ;path parameter or a query
// parameter with "=") whose name tokenClass calls a session parameter.
func hasSessionParam(target string, c Classifier) bool {
	p, q, _ := strings.Cut(target, "?")
	if pathParams(p, func(n, _ string) bool { return !c.tokenClass(n).Session }) {
		return true
	}
	for more := q != ""; more; {
		var kv string
		kv, q, more = strings.Cut(q, "&")
		if n, _, found := strings.Cut(kv, "="); found && c.tokenClass(n).Session {
			return true
		}
	}
	return false
}

// Key is what aggregation folds on: rule, host and cookie name.
func (f *Finding) Key() string {
	return f.Rule + "\x00" + strings.ToLower(f.Host) + "\x00" + f.Cookie
}

// Fingerprint is a finding's stable identity for baselines: a hash of its
// rule, host (case-folded) and cookie or parameter name. It does not depend
// on values, frames, times or files, so the same weakness seen in another
// capture has the same fingerprint.
func Fingerprint(rule, host, name string) string {
	// Joined on the stack when it fits (it is hashed for every finding
	// built): one allocation, the result, instead of four.
	var buf [256]byte
	var hb [128]byte
	b := append(buf[:0], rule...)
	b = append(b, 0)
	b = append(b, lowerInto(hb[:], host)...)
	b = append(b, 0)
	b = append(b, name...)
	sum := sha256.Sum256(b)
	var h [16]byte
	hexEncode(h[:], sum[:8])
	return string(h[:])
}

// Aggregator folds findings by Key unless Each is set. The evidence is the
// earliest occurrence (frame, then header line: evidenceBefore), whatever order
// occurrences are added in, so Aggregators filled by several workers and
// merged agree with one filled alone; Count and LastTime grow.
//
// Kept findings are encoded in a findingStore (store.go): a byte arena of
// records and a small fixed entry each, nothing the garbage collector
// scans. The record copies every string (those that repeat once, in the
// store's table), so a kept finding holds nothing of the message it came
// from. Folding reads the entries only; it decodes a kept finding just when
// an occurrence ties with its evidence on file and frame.
type Aggregator struct {
	Each  bool
	index aggIndex
	store findingStore
	g     Finding // a kept finding decoded for evidenceBefore
	dec   decoder
}

// aggIndex finds a kept finding by its aggKey: an open-addressing table
// (linear probing) whose slots hold a finding's index and 32 bits of its
// key's hash, 8 bytes a slot with the table at most 3/4 full. A Go
// map[uint64]int32 cost about 52 bytes a finding here (3.6 MB for the 2 GB
// capture's 69,608 findings; this table: 1 MB) and a second map for keys
// whose hashes collided. The hash is maphash with a seed made per index, so
// a crafted capture cannot aim keys at one slot; keys that share a slot
// chain or a tag are told apart by comparing the key with the store's,
// which a hit does anyway. A key's slot is given by the top bits of its
// tag, so growing the table moves slots without hashing any key again.
type aggIndex struct {
	seed  maphash.Seed
	slots []aggSlot // len a power of two, or nil before the first find
	n     int       // slots in use
	shift uint8     // 32 - log2(len(slots)): a tag's slot is tag >> shift
}

// aggSlot is a slot of aggIndex; idx is the finding's index + 1, so that
// the zero slot is empty.
type aggSlot struct {
	tag uint32 // the hash's high 32 bits
	idx int32
}

func (x *aggIndex) hash(k aggKey) uint64 {
	// A key that fits is joined in a buffer on the stack and hashed in one
	// call: maphash's value depends only on the bytes written, so this is
	// the value of the writes below, without their calls per part.
	if len(k.rule)+len(k.host)+len(k.cookie)+2 <= 128 {
		var buf [128]byte
		b := append(buf[:0], k.rule...)
		b = append(b, 0)
		b = append(b, k.host...)
		b = append(b, 0)
		b = append(b, k.cookie...)
		return maphash.Bytes(x.seed, b)
	}
	var h maphash.Hash
	h.SetSeed(x.seed)
	h.WriteString(k.rule)
	h.WriteByte(0)
	h.WriteString(k.host)
	h.WriteByte(0)
	h.WriteString(k.cookie)
	return h.Sum64()
}

// hashKey is aggIndex.hash; a test makes every key collide through it.
var hashKey = (*aggIndex).hash

// find returns the index in s of the finding whose key is k, and k's hash.
// The probe ends: the table always has an empty slot (insert grows it).
func (x *aggIndex) find(s *findingStore, k aggKey) (i int32, h uint64, ok bool) {
	if x.slots == nil {
		x.seed, x.slots, x.shift = maphash.MakeSeed(), make([]aggSlot, 64), 32-6
	}
	h = hashKey(x, k)
	mask, tag := uint64(len(x.slots)-1), uint32(h>>32)
	for p := uint64(tag >> x.shift); ; p = (p + 1) & mask {
		sl := x.slots[p]
		if sl.idx == 0 {
			return 0, h, false
		}
		if sl.tag == tag && k.of(s, sl.idx-1) {
			return sl.idx - 1, h, true
		}
	}
}

// insert records that the finding at i of s (hash h, not in x) is there.
func (x *aggIndex) insert(h uint64, i int32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		old := x.slots
		x.slots, x.shift = make([]aggSlot, 2*len(old)), x.shift-1
		for _, sl := range old {
			if sl.idx != 0 {
				x.place(sl)
			}
		}
	}
	x.place(aggSlot{uint32(h >> 32), i + 1})
	x.n++
}

// place puts sl in the first empty slot of its tag's probe.
func (x *aggIndex) place(sl aggSlot) {
	mask := uint64(len(x.slots) - 1)
	p := uint64(sl.tag >> x.shift)
	for x.slots[p].idx != 0 {
		p = (p + 1) & mask
	}
	x.slots[p] = sl
}

// aggKey is Key as a comparable value, without building a string.
type aggKey struct{ rule, host, cookie string }

func (f *Finding) aggKey() aggKey { return aggKey{f.Rule, lowerHost(f.Host), f.Cookie} }

// lowerHost is strings.ToLower for hosts, which are mostly lower-case
// already: h itself when it has no ASCII upper-case letter.
func lowerHost(h string) string {
	if hasASCIIUpper(h) {
		return strings.ToLower(h)
	}
	return h
}

// hasASCIIUpper reports whether s has a byte 'A'-'Z'. It looks at 8 bytes
// at a time: every fold and add reads its host so (aggKey). Callgrind,
// 100 MB benchmark capture, 2 workers: lowerHost 5.1M -> 3.3M
// instructions (a byte at a time it took some 140 a call), the run
// 834.5-835.3M -> 832.5-832.8M.
func hasASCIIUpper(s string) bool {
	const ones = 0x0101010101010101
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))
		// For each byte below 0x80 (y, without the high bits, so that no
		// sum carries into the next byte), its high bit is set by adding
		// 0x80-'A' when it is 'A' or above and by adding 0x80-'Z'-1 when
		// it is above 'Z'; bytes of 0x80 and above are masked out by ^x.
		y := x & (0x7f * ones)
		if (y+(0x80-'A')*ones)&^(y+(0x80-'Z'-1)*ones)&^x&(0x80*ones) != 0 {
			return true
		}
	}
	for ; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// of reports whether k is the key of finding i of s.
func (k aggKey) of(s *findingStore, i int32) bool {
	e := s.at(i)
	host := s.t.strs[e.host]
	return s.t.strs[e.rule] == k.rule && s.t.strs[e.cookie] == k.cookie && (host == k.host || lowerHost(host) == k.host)
}

// Add records f and reports whether it is new (not folded into an earlier one).
func (a *Aggregator) Add(f Finding) bool {
	return a.add(&f)
}

// AddFinding is Add reading *f in place (a Finding is 512 bytes): it is
// not changed, nor kept.
func (a *Aggregator) AddFinding(f *Finding) bool { return a.add(f) }

// add records *f (the store copies what it keeps).
func (a *Aggregator) add(f *Finding) bool {
	if a.Each {
		a.store.add(f)
		return true
	}
	i, h, ok := a.index.find(&a.store, f.aggKey())
	if !ok {
		a.index.insert(h, a.store.add(f))
		return true
	}
	if a.evidenceBefore(f, i) {
		a.store.write(a.store.at(i), f)
	}
	e := a.store.at(i)
	e.count += int64(f.Count)
	a.store.raiseLast(i, e, f.LastTime)
	if f.Severity > e.sev { // a live value outranks a deletion
		e.sev = f.Severity
	}
	return false
}

// evidenceBefore is evidenceBefore(f, finding i), from i's entry when its
// file and frame decide.
func (a *Aggregator) evidenceBefore(f *Finding, i int32) bool {
	e := a.store.at(i)
	if c := cmp.Or(cmp.Compare(f.File, a.store.t.strs[e.file]), cmp.Compare(f.Frame, e.frame)); c != 0 {
		return c < 0
	}
	a.store.decode(&a.dec, i, &a.g)
	return evidenceBefore(f, &a.g)
}

// Fold folds occurrence f into the finding of its key when that needs
// none of the fields that evaluate builds last (see Folder): when the key
// is kept already and f would not become its evidence, only Count,
// LastTime and Severity change, as Add would change them. It reads f's
// key, Count, LastTime, Severity, File and Frame. It returns false, and f
// must then be built in full and Added, when the key is new, when f would
// be the new evidence, when telling needs more of f (the evidence is from
// the same file and frame), and always with Each.
func (a *Aggregator) Fold(f *Finding) bool {
	if a.Each || a.store.n == 0 {
		return false
	}
	i, _, ok := a.index.find(&a.store, f.aggKey())
	if !ok {
		return false
	}
	e := a.store.at(i)
	if c := cmp.Or(cmp.Compare(f.File, a.store.t.strs[e.file]), cmp.Compare(f.Frame, e.frame)); c <= 0 {
		return false // f is the new evidence, or deciding needs f's other fields
	}
	e.count += int64(f.Count)
	a.store.raiseLast(i, e, f.LastTime)
	if f.Severity > e.sev {
		e.sev = f.Severity
	}
	return true
}

// evidenceBefore reports whether occurrence x is better evidence than y:
// from an earlier frame; in the same frame and connection, from an earlier
// message (Message, which callers number in stream order per connection)
// or an earlier cookie of the message; else the first in report order.
func evidenceBefore(x, y *Finding) bool {
	if c := cmp.Or(cmp.Compare(x.File, y.File), cmp.Compare(x.Frame, y.Frame)); c != 0 {
		return c < 0
	}
	if x.Client == y.Client && x.Server == y.Server {
		if c := cmp.Or(cmp.Compare(x.Message, y.Message), cmp.Compare(x.pos, y.pos)); c != 0 {
			return c < 0
		}
	}
	return compare(x, y) < 0
}

// Merge adds every finding of o (folded or not) to a, as if each
// occurrence had been added to a, and empties o (into an empty a, o's
// storage is taken whole).
func (a *Aggregator) Merge(o *Aggregator) {
	if a.store.n == 0 && a.Each == o.Each {
		a.index, a.store = o.index, o.store
	} else {
		var f Finding
		var d decoder
		for i := range int32(o.store.n) {
			o.store.decode(&d, i, &f)
			a.add(&f)
		}
	}
	*o = Aggregator{Each: o.Each}
}

// Len is the number of findings so far.
func (a *Aggregator) Len() int { return a.store.n }

// Findings returns the findings in a total order: file, frame, catalogue
// order, then the remaining fields, so output is reproducible.
func (a *Aggregator) Findings() []Finding {
	out := make([]Finding, a.store.n)
	d := decoder{fresh: true}
	for k, i := range a.order() {
		a.store.decode(&d, i, &out[k])
	}
	return out
}

// Release is Findings for the last reader, as a Sorted that decodes them
// one at a time. a is empty afterwards (its index is let go; the store
// moves to the Sorted).
func (a *Aggregator) Release() *Sorted {
	x := &Sorted{s: new(findingStore), perm: a.order()}
	*x.s = a.store
	*a = Aggregator{Each: a.Each}
	return x
}

// order returns the indexes of a's findings in report order (Compare;
// ties, which the total order leaves only for identical findings, in
// insertion order). The file's rank, frame and catalogue order decide most
// comparisons: radixOrder sorts by them, when they fit, and else a
// comparison sort compares them copied out of the entries into one array,
// without reading entries.
func (a *Aggregator) order() []int32 {
	rank := a.store.fileRanks()
	var x, y Finding
	var dx, dy decoder
	tie := func(i, j int32) int {
		return cmp.Or(a.store.compareEntries(rank, i, j, &x, &y, &dx, &dy), cmp.Compare(i, j))
	}
	if radixSort {
		if perm, ok := a.radixOrder(rank, tie); ok {
			return perm
		}
	}
	type sortKey struct {
		rank  uint32
		order int32
		frame uint64
		i     int32
	}
	keys := make([]sortKey, a.store.n)
	for i := range keys {
		e := a.store.at(int32(i))
		keys[i] = sortKey{rank[e.file], e.order, e.frame, int32(i)}
	}
	slices.SortFunc(keys, func(p, q sortKey) int {
		switch {
		case p.rank != q.rank:
			return cmp.Compare(p.rank, q.rank)
		case p.frame != q.frame:
			return cmp.Compare(p.frame, q.frame)
		case p.order != q.order:
			return cmp.Compare(p.order, q.order)
		}
		return tie(p.i, q.i)
	})
	perm := make([]int32, len(keys))
	for k, key := range keys {
		perm[k] = key.i
	}
	return perm
}

// radixSort has order use radixOrder (a variable: tests compare it with
// the comparison sort).
var radixSort = true

// radixOrder is order when each finding's file rank, frame and catalogue
// order (each less its least, in as many bits as its greatest then needs;
// some 27 bits in all on the benchmark captures) and its index fit one
// 64-bit number, in that order from the top: a radix sort orders those
// numbers a byte at a time over the bits above the index (stably, so equal
// ones stay in index order), and runs of findings that tie there, few and
// short, are then sorted by tie. It reports false, having done nothing,
// when they do not fit. On the 1 GB benchmark capture's 54,780 findings
// the comparison sort took some 6 ms, between the end of input and the
// report, when nothing else runs; its array of keys was 1.3 MB, the two
// arrays of numbers here are 0.4 MB each.
func (a *Aggregator) radixOrder(rank []uint32, tie func(i, j int32) int) ([]int32, bool) {
	s := &a.store
	n := s.n
	if n == 0 {
		return nil, true
	}
	e0 := s.at(0)
	minR, maxR, minF, maxF, minO, maxO := rank[e0.file], rank[e0.file], e0.frame, e0.frame, e0.order, e0.order
	for b, blk := range s.entries {
		for k := range blk[:min(blockSize, n-b*blockSize)] {
			e := &blk[k]
			r := rank[e.file]
			minR, maxR, minF, maxF, minO, maxO = min(minR, r), max(maxR, r), min(minF, e.frame), max(maxF, e.frame), min(minO, e.order), max(maxO, e.order)
		}
	}
	ib := bits.Len32(uint32(n - 1))
	fb, ob := bits.Len64(maxF-minF), bits.Len32(uint32(maxO-minO)) // int32 differences wrap to their unsigned values
	vb := bits.Len32(maxR-minR) + fb + ob
	if vb+ib > 64 {
		return nil, false
	}
	v := make([]uint64, n)
	for b, blk := range s.entries {
		for k := range blk[:min(blockSize, n-b*blockSize)] {
			e := &blk[k]
			i := b*blockSize + k
			v[i] = (uint64(rank[e.file]-minR)<<(fb+ob)|(e.frame-minF)<<ob|uint64(uint32(e.order-minO)))<<ib | uint64(i)
		}
	}
	w := make([]uint64, n)
	var count [256]int
	for shift := ib; shift < ib+vb; shift += 8 {
		clear(count[:])
		for _, x := range v {
			count[byte(x>>shift)]++
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, x := range v {
			d := byte(x >> shift)
			w[count[d]] = x
			count[d]++
		}
		v, w = w, v
	}
	perm := make([]int32, n)
	idx := uint64(1)<<ib - 1
	var run []int32
	for k := 0; k < n; {
		j := k + 1
		for j < n && v[j]>>ib == v[k]>>ib {
			j++
		}
		if j-k == 1 {
			perm[k] = int32(v[k] & idx)
		} else {
			run = run[:0]
			for _, x := range v[k:j] {
				run = append(run, int32(x&idx))
			}
			slices.SortFunc(run, tie)
			copy(perm[k:], run)
		}
		k = j
	}
	return perm, true
}

// Compare orders findings totally for reports.
func Compare(x, y Finding) int { return compare(&x, &y) }

func compare(x, y *Finding) int {
	return cmp.Or(
		cmp.Compare(x.File, y.File),
		cmp.Compare(x.Frame, y.Frame),
		cmp.Compare(x.order, y.order),
		cmp.Compare(x.Direction, y.Direction),
		cmp.Compare(x.Subject, y.Subject),
		cmp.Compare(x.Cookie, y.Cookie),
		cmp.Compare(valueFP(x.Value), valueFP(y.Value)),
		cmp.Compare(x.Host, y.Host),
		x.Client.Compare(y.Client),
		x.Server.Compare(y.Server),
	)
}

func valueFP(v *Value) string {
	if v == nil {
		return ""
	}
	return v.Fingerprint
}
