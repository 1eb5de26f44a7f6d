// Package report writes findings and the run summary: a human table
// (tablewriter) and JSON Lines for machines and log shippers. Writers take an
// io.Writer and never close it.
package report

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cookiewatch/cookiewatch/rules"
)

// Counter is one named count, e.g. a kind of skipped packet.
type Counter struct {
	Name string `json:"name"`
	N    uint64 `json:"n"`
}

// Summary says what a run read and what it found. Counters are sorted by
// name so output is reproducible.
type Summary struct {
	Files           []string       `json:"files"`
	Packets         uint64         `json:"packets"`
	TCPConnections  uint64         `json:"tcp_connections"`
	HTTPConnections uint64         `json:"http_connections"`
	TLSConnections  uint64         `json:"tls_connections"`
	Requests        uint64         `json:"requests"`
	Responses       uint64         `json:"responses"`
	Findings        int            `json:"findings"`    // after aggregation
	Occurrences     int            `json:"occurrences"` // before aggregation
	Gaps            uint64         `json:"gaps"`        // TCP sequence gaps (lost or uncaptured bytes)
	Fragments       uint64         `json:"ipv4_fragments,omitempty"`
	Reassembled     uint64         `json:"ipv4_reassembled,omitempty"` // datagrams rebuilt from fragments
	BySeverity      map[string]int `json:"by_severity"`                // reported findings per severity
	FindingHosts    int            `json:"finding_hosts"`              // distinct hosts with a reported finding
	Cookies         int            `json:"cookies"`                    // distinct cookie (or parameter) names with a reported finding
	Suppressed      int            `json:"suppressed,omitempty"`       // findings dropped by the policy's ignore entries
	Baselined       int            `json:"baselined,omitempty"`        // findings dropped because --baseline already had them
	Skipped         []Counter      `json:"skipped,omitempty"`
	Anomalies       []Counter      `json:"anomalies,omitempty"`
	Warnings        []string       `json:"warnings,omitempty"`
	Hosts           []Host         `json:"hosts"`       // per host: seen over TLS, plaintext or both (hosts.go)
	Correlation     Correlation    `json:"correlation"` // cross-connection state and its evictions

	TLSDecryption *TLSDecryption `json:"tls_decryption,omitempty"` // with a key log only (tlsdecrypt.go)

	// Live describes a live capture (-i); nil for files.
	Live *LiveStats `json:"live,omitempty"`
}

// Findings is a run's findings in report order, read one at a time, so
// that a report need not hold them all: At may decode finding i into a
// value that the next call reuses (*rules.Sorted does), so a writer copies
// what it keeps past the next call. List is Findings over a slice.
type Findings interface {
	Len() int
	At(i int) *rules.Finding
}

// List is Findings over a slice of findings.
type List []*rules.Finding

// Len is len(l).
func (l List) Len() int { return len(l) }

// At is l[i].
func (l List) At(i int) *rules.Finding { return l[i] }

// All returns every finding of fs as a finding of its own, for the readers
// that need them all at once (HTML, --explain): a List as it is, else
// through fs's Materialise (rules.Sorted's).
func All(fs Findings) []*rules.Finding {
	switch x := fs.(type) {
	case List:
		return x
	case interface{ Materialise() []*rules.Finding }:
		return x.Materialise()
	}
	out := make([]*rules.Finding, fs.Len())
	for i := range out {
		f := *fs.At(i) // a Findings without Materialise must not reuse what At points to
		out[i] = &f
	}
	return out
}

// Tally fills the by-severity, host and cookie counts from the reported findings.
func (s *Summary) Tally(fs Findings) {
	s.BySeverity = map[string]int{}
	hosts, cookies := map[string]bool{}, map[string]bool{}
	for i := range fs.Len() {
		f := fs.At(i)
		s.BySeverity[f.Severity.String()]++
		hosts[strings.ToLower(f.Host)] = true
		cookies[f.Cookie] = true
	}
	s.Findings, s.FindingHosts, s.Cookies = fs.Len(), len(hosts), len(cookies)
}

// FindingsLine summarises the reported findings: by severity, hosts, cookies
// and what policy and baseline removed.
func (s Summary) FindingsLine() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d findings", s.Findings)
	sep := ": "
	for _, sev := range severityOrder {
		if n := s.BySeverity[sev.String()]; n > 0 {
			fmt.Fprintf(&b, "%s%d %s", sep, n, sev)
			sep = ", "
		}
	}
	fmt.Fprintf(&b, "; %d hosts, %d cookies", s.FindingHosts, s.Cookies)
	if s.Suppressed > 0 {
		fmt.Fprintf(&b, "; %d suppressed by policy", s.Suppressed)
	}
	if s.Baselined > 0 {
		fmt.Fprintf(&b, "; %d already in the baseline", s.Baselined)
	}
	return b.String()
}

// Line is the one-line summary printed after the table and on stderr.
func (s Summary) Line() string {
	var b strings.Builder
	if s.Live != nil {
		fmt.Fprintf(&b, "captured %d packets on %s", s.Packets, s.Live.Interface)
	} else {
		fmt.Fprintf(&b, "read %d packets in %d file(s)", s.Packets, len(s.Files))
	}
	fmt.Fprintf(&b, ": %d TCP connections (%d HTTP, %d TLS), %d requests, %d responses; %d findings (%d occurrences)",
		s.TCPConnections, s.HTTPConnections, s.TLSConnections, s.Requests, s.Responses, s.Findings, s.Occurrences)
	if s.Gaps > 0 {
		fmt.Fprintf(&b, "; %d TCP gaps", s.Gaps)
	}
	if s.Fragments > 0 {
		fmt.Fprintf(&b, "; %d IPv4 fragments (%d datagrams reassembled)", s.Fragments, s.Reassembled)
	}
	if len(s.Skipped) > 0 {
		b.WriteString("; skipped: ")
		writeCounters(&b, s.Skipped)
	}
	if len(s.Anomalies) > 0 {
		b.WriteString("; HTTP anomalies: ")
		writeCounters(&b, s.Anomalies)
	}
	s.hostsLine(&b)
	s.tlsLine(&b)
	return b.String()
}

func writeCounters(b *strings.Builder, cs []Counter) {
	for i, c := range cs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(b, "%s %d", c.Name, c.N)
	}
}

// Safe makes traffic-derived text harmless on a terminal: control
// characters, invalid UTF-8 and bidirectional overrides are shown as Go
// escapes, and very long text is clipped.
func Safe(s string, max int) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if !clean {
		q := strconv.QuoteToGraphic(s)
		s = q[1 : len(q)-1]
	}
	if max > 0 && len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// severityOrder lists severities from most to least severe for summaries.
var severityOrder = []rules.Severity{rules.Critical, rules.High, rules.Medium, rules.Low, rules.Info}
