// Package rules holds cookiewatch's rule catalogue, the session-cookie
// classification and Evaluate, which turns parsed HTTP messages into findings.
// Every check is a pure function of an Observation; the catalogue is the only
// list of rules and its order is display order.
package rules

import (
	"fmt"
	"strings"

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
	return SeverityInvalid, fmt.Errorf("rules: unknown severity %q", name)
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

// Kind says which header an observation comes from.
type Kind uint8

const (
	KindSetCookie Kind = iota + 1 // a Set-Cookie line of a response
	KindCookie                    // one name=value pair of a request's Cookie header
)

func (k Kind) String() string {
	switch k {
	case KindSetCookie:
		return "set-cookie"
	case KindCookie:
		return "cookie"
	}
	return "unknown"
}

// Observation is one cookie as a rule sees it: what was sent, whether it is a
// session cookie, and how it travelled. Checks read nothing else.
type Observation struct {
	Kind      Kind
	Name      string
	Session   bool // classified as a session cookie (or --all-cookies)
	TLS       bool // carried inside TLS (always false until TLS decryption exists)
	SetCookie httpparse.SetCookie
	Deletion  bool // a Set-Cookie that deletes (Max-Age <= 0 or Expires before capture time)
}

// settable reports whether attribute rules apply: a session cookie being set,
// in a line a browser would accept, that is not a deletion.
func (o Observation) settable() bool {
	return o.Kind == KindSetCookie && o.Session && !o.Deletion && o.SetCookie.Err == nil
}

// Rule is one check with the data that explains it. Fires and Silent are
// samples the catalogue test runs: a Set-Cookie value (or, for request rules,
// "Cookie: a=b") on a plaintext connection for a session cookie named as in
// the sample.
type Rule struct {
	ID          string
	Title       string
	CWE         int
	Severity    Severity
	Confidence  Confidence
	Check       func(Observation) bool
	Explanation string // the attack it enables, in plain words
	Fix         string // what to change
	Fires       []string
	Silent      []string
}
