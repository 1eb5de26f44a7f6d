package rules

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

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

func newValue(v string, show bool) Value {
	sum := sha256.Sum256([]byte(v))
	out := Value{Length: len(v), Fingerprint: "sha256:" + hex.EncodeToString(sum[:6])}
	if show {
		out.Raw = v
	}
	return out
}

// String is the redacted form used in tables.
func (v Value) String() string {
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
	a := &Attributes{Secure: c.Secure, HttpOnly: c.HttpOnly, Partitioned: c.Partitioned, Path: c.Path, Unknown: c.Unknown}
	if c.HasDomain {
		a.Domain = c.Domain
	}
	if c.HasMaxAge {
		m := c.MaxAge
		a.MaxAge = &m
	}
	if c.HasExpires {
		a.Expires = c.Expires.UTC().Format(time.RFC3339)
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

// Finding is one rule match with the evidence an analyst needs to find it in
// Wireshark: file, frame, time, the 5-tuple, host and URL path.
type Finding struct {
	Rule       string     `json:"rule"`
	Title      string     `json:"title"`
	Severity   Severity   `json:"-"`
	Confidence Confidence `json:"-"`
	CWE        int        `json:"cwe"`

	Cookie    string      `json:"cookie"`
	Value     Value       `json:"value"`
	Session   string      `json:"session_reason"` // why the cookie counts as a session cookie
	Direction string      `json:"direction"`      // "request" or "response"
	Deletion  bool        `json:"deletion,omitempty"`
	Attrs     *Attributes `json:"attributes,omitempty"`
	Line      string      `json:"header,omitempty"` // the whole Set-Cookie or Cookie value; only with ShowValues
	LineIndex int         `json:"-"`                // index of that header in its message
	Message   uint64      `json:"-"`                // sequence number of the message in the run, set by the caller

	Host      string         `json:"host"`
	Client    netip.AddrPort `json:"client"`
	Server    netip.AddrPort `json:"server"`
	File      string         `json:"file,omitempty"`
	Frame     uint64         `json:"frame"`
	Time      time.Time      `json:"-"`
	Method    string         `json:"method,omitempty"`
	Path      string         `json:"path,omitempty"`
	Status    int            `json:"status,omitempty"`
	TLS       bool           `json:"tls"`
	Truncated bool           `json:"truncated_header,omitempty"` // header block cut by loss or end of capture

	Count    int       `json:"count"` // occurrences folded into this finding (1 with --each)
	LastTime time.Time `json:"-"`

	order int // catalogue index, for sorting
	pos   int // index of the cookie in its message (Cookie pairs, Set-Cookie lines), for evidence
}

// Options tune Evaluate.
type Options struct {
	Classifier Classifier
	ShowValues bool // keep raw cookie values in findings
}

// EvaluateRequest returns the findings for one request.
func EvaluateRequest(req *httpparse.Request, tls bool, opt Options) []Finding {
	var out []Finding
	for i, c := range req.Cookies {
		cls := opt.Classifier.Classify(c.Name)
		o := Observation{Kind: KindCookie, Name: c.Name, Session: cls.Session, TLS: tls}
		out = evaluate(out, o, func(r Rule) Finding {
			f := base(r, &req.Message, req, tls)
			f.Cookie, f.Value, f.Session, f.Direction = c.Name, newValue(c.Value, opt.ShowValues), cls.Reason, "request"
			f.LineIndex, f.pos = c.Line, i
			if opt.ShowValues && c.Line < len(req.Headers) {
				f.Line = req.Headers[c.Line].Value
			}
			return f
		})
	}
	return out
}

// EvaluateResponse returns the findings for one response.
func EvaluateResponse(resp *httpparse.Response, tls bool, opt Options) []Finding {
	var out []Finding
	for i, c := range resp.SetCookies {
		cls := opt.Classifier.Classify(c.Name)
		o := Observation{Kind: KindSetCookie, Name: c.Name, Session: cls.Session, TLS: tls, SetCookie: c,
			Deletion: c.Deletes(resp.Time)}
		out = evaluate(out, o, func(r Rule) Finding {
			f := base(r, &resp.Message, resp.Request, tls)
			f.Cookie, f.Value, f.Session, f.Direction = c.Name, newValue(c.Value, opt.ShowValues), cls.Reason, "response"
			f.Status, f.Attrs, f.Deletion = resp.Status, newAttributes(c), o.Deletion
			f.LineIndex, f.pos = i, i
			if opt.ShowValues {
				f.Line = c.Raw
			}
			if o.Deletion {
				f.Severity = Info // a deletion exposes no live session value
			}
			return f
		})
	}
	return out
}

func evaluate(out []Finding, o Observation, mk func(Rule) Finding) []Finding {
	for i, r := range catalogue {
		if r.Check(o) {
			f := mk(r)
			f.order = i
			out = append(out, f)
		}
	}
	return out
}

func base(r Rule, m *httpparse.Message, req *httpparse.Request, tls bool) Finding {
	f := Finding{
		Rule: r.ID, Title: r.Title, Severity: r.Severity, Confidence: r.Confidence, CWE: r.CWE,
		Client: m.Client, Server: m.Server, Frame: m.Frame, Time: m.Time, LastTime: m.Time,
		TLS: tls, Truncated: m.Truncated, Count: 1,
	}
	if req != nil {
		f.Host, f.Method, f.Path = req.Host, req.Method, req.Path
	}
	if f.Host == "" {
		f.Host = m.Server.Addr().String()
	}
	return f
}

// Key is what aggregation folds on: rule, host and cookie name.
func (f *Finding) Key() string {
	return f.Rule + "\x00" + strings.ToLower(f.Host) + "\x00" + f.Cookie
}

// Aggregator folds findings by Key unless Each is set. The evidence is the
// earliest occurrence (frame, then header line: evidenceBefore), whatever order
// occurrences are added in, so Aggregators filled by several workers and
// merged agree with one filled alone; Count and LastTime grow.
type Aggregator struct {
	Each  bool
	index map[string]int
	list  []Finding
}

// Add records f and reports whether it is new (not folded into an earlier one).
func (a *Aggregator) Add(f Finding) bool {
	if a.Each {
		a.list = append(a.list, f)
		return true
	}
	if a.index == nil {
		a.index = map[string]int{}
	}
	k := f.Key()
	if i, ok := a.index[k]; ok {
		g := &a.list[i]
		count, last, sev := g.Count+f.Count, g.LastTime, g.Severity
		if f.LastTime.After(last) {
			last = f.LastTime
		}
		if f.Severity > sev { // a live value outranks a deletion
			sev = f.Severity
		}
		if evidenceBefore(f, *g) {
			*g = f
		}
		g.Count, g.LastTime, g.Severity = count, last, sev
		return false
	}
	a.index[k] = len(a.list)
	a.list = append(a.list, f)
	return true
}

// evidenceBefore reports whether occurrence x is better evidence than y:
// from an earlier frame; in the same frame and connection, from an earlier
// message (Message, which callers number in stream order per connection)
// or an earlier cookie of the message; else the first in report order.
func evidenceBefore(x, y Finding) bool {
	if c := cmp.Or(cmp.Compare(x.File, y.File), cmp.Compare(x.Frame, y.Frame)); c != 0 {
		return c < 0
	}
	if x.Client == y.Client && x.Server == y.Server {
		if c := cmp.Or(cmp.Compare(x.Message, y.Message), cmp.Compare(x.pos, y.pos)); c != 0 {
			return c < 0
		}
	}
	return Compare(x, y) < 0
}

// Merge adds every finding of o (folded or not) to a, as if each
// occurrence had been added to a.
func (a *Aggregator) Merge(o *Aggregator) {
	for _, f := range o.list {
		a.Add(f)
	}
}

// Findings returns the findings in a total order: file, frame, catalogue
// order, then the remaining fields, so output is reproducible.
func (a *Aggregator) Findings() []Finding {
	out := slices.Clone(a.list)
	slices.SortStableFunc(out, Compare)
	return out
}

// Compare orders findings totally for reports.
func Compare(x, y Finding) int {
	return cmp.Or(
		cmp.Compare(x.File, y.File),
		cmp.Compare(x.Frame, y.Frame),
		cmp.Compare(x.order, y.order),
		cmp.Compare(x.Direction, y.Direction),
		cmp.Compare(x.Cookie, y.Cookie),
		cmp.Compare(x.Value.Fingerprint, y.Value.Fingerprint),
		cmp.Compare(x.Host, y.Host),
		x.Client.Compare(y.Client),
		x.Server.Compare(y.Server),
	)
}
