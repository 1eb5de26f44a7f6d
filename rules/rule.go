// Package rules holds cookiewatch's rule catalogue, the session-cookie
// classification and Evaluate, which turns parsed HTTP messages into findings.
// Every check is a pure function of an Observation; the catalogue is the only
// list of rules and its order is display order.
package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

// Severity ranks a finding. The zero value is invalid, so a rule that forgets
// to set one fails TestCatalogue instead of silently becoming "info".
type Severity uint8

const (
	SeverityInvalid Severity = iota
	Info
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"invalid", "info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", s)
}

// ParseSeverity reads a severity name as printed by String.
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if i > 0 && strings.EqualFold(n, name) {
			return Severity(i), nil
		}
	}
	return SeverityInvalid, fmt.Errorf("rules: unknown severity %q (want info, low, medium, high or critical)", name)
}

// Confidence says how sure a rule is that a match is a real weakness.
type Confidence uint8

const (
	ConfidenceInvalid Confidence = iota
	Tentative
	Firm
	Certain
)

var confidenceNames = [...]string{"invalid", "tentative", "firm", "certain"}

func (c Confidence) String() string {
	if int(c) < len(confidenceNames) {
		return confidenceNames[c]
	}
	return fmt.Sprintf("confidence(%d)", c)
}

// Kind says what an observation is about.
type Kind uint8

const (
	KindSetCookie     Kind = iota + 1 // a Set-Cookie line of a response
	KindCookie                        // one name=value pair of a request's Cookie header
	KindAuthorization                 // an Authorization or Proxy-Authorization request header
	KindURLParam                      // a parameter of the request target (query or ;path parameter)
	KindRefererParam                  // a parameter of the request's Referer URL
)

func (k Kind) String() string {
	switch k {
	case KindSetCookie:
		return "set-cookie"
	case KindCookie:
		return "cookie"
	case KindAuthorization:
		return "authorization"
	case KindURLParam:
		return "url-parameter"
	case KindRefererParam:
		return "referer-parameter"
	}
	return "unknown"
}

// Scope says which observations a rule judges. The zero value is invalid.
type Scope uint8

const (
	ScopeInvalid Scope = iota
	// SessionOnly rules judge session cookies (and session tokens) only.
	SessionOnly
	// AnyCookie rules judge every cookie; for one not classified as a session
	// cookie the finding drops to info (or is dropped, by policy).
	AnyCookie
	// RequestScope rules judge request headers, not cookies.
	RequestScope
)

func (s Scope) String() string {
	switch s {
	case SessionOnly:
		return "session cookies"
	case AnyCookie:
		return "every cookie (info unless a session cookie)"
	case RequestScope:
		return "requests"
	}
	return "invalid"
}

// Observation is one thing a rule may judge: a cookie being set or sent, an
// Authorization header, or a URL parameter, with the context it was seen in.
// Checks read nothing else, so they stay pure.
type Observation struct {
	Kind  Kind
	Name  string // cookie or parameter name; header name for KindAuthorization
	Value string // cookie or parameter value; never set for KindAuthorization

	Class   SessionClass // how Name (and Value) were classified
	Session bool         // Class.Session, kept flat for checks

	TLS         bool   // carried inside TLS (always false until TLS decryption exists)
	Host        string // the request's host, lower-cased, without port; "" when unknown
	RefererHost string // KindRefererParam: the Referer URL's host, lower-cased, without port
	Scheme      string // KindAuthorization: the authentication scheme as sent ("Basic", "Bearer", …)

	SetCookie httpparse.SetCookie // KindSetCookie: the parsed line
	Deletion  bool                // a Set-Cookie that deletes (Max-Age <= 0 or Expires before capture time)
	Lifetime  time.Duration       // effective lifetime: Max-Age wins, capped at 400 days; 0 for a session-lifetime cookie
	Duplicate bool                // another Set-Cookie of the same response sets the same name, domain and path
	Threshold time.Duration       // lifetime above which long-lived-session fires
	Line      int                 // index of the header the observation comes from in its message
}

// setCookie reports whether attribute rules may judge o: a Set-Cookie line a
// browser would parse, that is not a deletion.
func (o *Observation) setCookie() bool {
	return o.Kind == KindSetCookie && !o.Deletion && o.SetCookie.Err == nil
}

// Setting names the configuration that fixes a finding; frameworks map each
// to their own knob (framework.go).
type Setting uint8

const (
	SettingNone     Setting = iota // no framework-specific fix; the rule's Fix is enough
	SettingTLS                     // serve over HTTPS only
	SettingSecure                  // the Secure attribute
	SettingHttpOnly                // the HttpOnly attribute
	SettingSameSite                // the SameSite attribute
	SettingLifetime                // Max-Age / Expires
	SettingName                    // the cookie's name (prefixes, default names)
	SettingDomain                  // the Domain attribute
	SettingURL                     // session IDs in URLs
	SettingIDLength                // session ID generation
)

// Rule is one check with the data that explains it. Fires and Silent are
// samples TestCatalogue runs (grammar in sample.go): the rule must fire on
// at least one observation of every Fires sample and on none of Silent's.
type Rule struct {
	ID         string
	Title      string
	CWE        int
	Severity   Severity // for a session cookie
	Plaintext  Severity // if set, the severity when not inside TLS
	Confidence Confidence
	Scope      Scope
	Setting    Setting                 // what framework-specific remediation changes
	Check      func(*Observation) bool // by pointer: an Observation is some 300 bytes, judged by every rule
	kinds      kindSet                 // the kinds of observation Check can fire on (TestRuleKinds)

	Explanation string // the attack it enables, in plain words
	Fix         string // what to change, for any stack
	Fires       []string
	Silent      []string
}

// applies reports whether r judges o and its check fires.
func (r *Rule) applies(o *Observation) bool {
	return r.judges(o.Kind, o.Session) && r.Check(o)
}

// judges reports whether r's scope takes an observation of kind k that is
// (or is not) about a session cookie or token.
func (r *Rule) judges(k Kind, session bool) bool {
	switch r.Scope {
	case SessionOnly:
		return session && k != KindAuthorization
	case AnyCookie:
		return k == KindSetCookie || k == KindCookie
	case RequestScope:
		return k != KindSetCookie && k != KindCookie
	}
	return false
}

// kindSet is a set of Kinds, a bit each; the zero set stands for every kind.
type kindSet uint8

func kindsOf(ks ...Kind) kindSet {
	var s kindSet
	for _, k := range ks {
		s |= 1 << k
	}
	return s
}

// has reports whether s holds k (the zero set holds every kind).
func (s kindSet) has(k Kind) bool { return s == 0 || k < 8 && s&(1<<k) != 0 }

// judging[k][s] are the catalogue indexes of the rules that judge an
// observation of kind k with Session s == 1 and whose check can fire on
// that kind, in catalogue order: evaluate tries those only (kinds past the
// table's are judged by every rule's applies, as before). A scope alone
// put every cookie rule in a request cookie's list, where all but three
// checks return false at their first test (o.setCookie()): 25 rules were
// tried for a request's session cookie, 3 are now.
var judging = func() (j [KindRefererParam + 1][2][]int32) {
	for k := range j {
		for s := range j[k] {
			for i := range catalogue {
				if catalogue[i].judges(Kind(k), s == 1) && catalogue[i].kinds.has(Kind(k)) {
					j[k][s] = append(j[k][s], int32(i))
				}
			}
		}
	}
	return j
}()

// allRules is every catalogue index, for observations of other kinds.
var allRules = func() []int32 {
	all := make([]int32, len(catalogue))
	for i := range all {
		all[i] = int32(i)
	}
	return all
}()
