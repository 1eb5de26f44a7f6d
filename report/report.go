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
	var t Tallier
	for i := range fs.Len() {
		t.Add(fs.At(i))
	}
	t.Fill(s)
}

// Tallier makes the summary's counts of the reported findings as a writer
// reads them (Add each in turn, then Fill): a rules.Sorted decodes a
// finding each time it is read, and a pass of its own over the 54,780
// findings of the 1 GB benchmark capture costs some 20 ms. With CountHosts
// it also counts each host's findings (as CountFindings), in the same pass.
type Tallier struct {
	n              int
	bySeverity     [256]int // by rules.Severity (a uint8)
	hosts, cookies map[string]struct{}
	// Consecutive findings mostly share their host and cookie: a finding
	// whose host (cookie) is the last one's is not looked up again.
	started     bool // lastHost, lastCookie and lastRowHost are set
	lastHost    string
	lastCookie  string
	rows        []Host               // CountHosts: each row's Findings counted
	rowCounts   [][rowSeverities]int // by row, by severity: put in rows' Findings by flushRows
	rowIndex    map[string]int
	rowKey      func(string) string
	lastRowHost string
	lastRow     int // row of lastRowHost, -1 for none
}

// CountHosts has Add count each finding into the row of hosts whose Host is
// key(finding's host), as CountFindings does (the rows' Findings are
// filled in by Fill).
func (t *Tallier) CountHosts(hosts []Host, key func(string) string) {
	t.rows, t.rowKey, t.rowIndex = hosts, key, make(map[string]int, len(hosts))
	t.rowCounts = make([][rowSeverities]int, len(hosts))
	for i, h := range hosts {
		t.rowIndex[h.Host] = i
	}
}

// Add counts one reported finding. Its strings are kept (as map keys):
// they must not change afterwards, which a rules.Sorted's never do.
func (t *Tallier) Add(f *rules.Finding) { t.AddKey(f.Severity, f.Host, f.Cookie) }

// AddKey is Add for a finding of severity sev, host and cookie: all that
// Add reads of a finding (a rules.Sorted gives them without decoding the
// finding, Sorted.Key).
func (t *Tallier) AddKey(sev rules.Severity, host, cookie string) {
	first := !t.started
	if first {
		t.hosts, t.cookies = map[string]struct{}{}, map[string]struct{}{}
		t.started = true
	}
	t.n++
	t.bySeverity[sev]++
	if first || host != t.lastHost {
		h := strings.ToLower(host)
		if _, ok := t.hosts[h]; !ok { // a lookup costs less than an assignment
			t.hosts[h] = struct{}{}
		}
		t.lastHost = host
	}
	if first || cookie != t.lastCookie {
		if _, ok := t.cookies[cookie]; !ok {
			t.cookies[cookie] = struct{}{}
		}
		t.lastCookie = cookie
	}
	if t.rowKey == nil {
		return
	}
	if first || host != t.lastRowHost {
		i, ok := t.rowIndex[t.rowKey(host)]
		if !ok {
			i = -1
		}
		t.lastRowHost, t.lastRow = host, i
	}
	if i := t.lastRow; i >= 0 {
		if int(sev) < rowSeverities {
			t.rowCounts[i][sev]++
			return
		}
		if t.rows[i].Findings == nil {
			t.rows[i].Findings = map[string]int{}
		}
		t.rows[i].Findings[sev.String()]++
	}
}

// rowSeverities are the severities a row counts in an array, not in its
// map (a map assignment per finding cost the Tallier half its time).
const rowSeverities = 8

// flushRows adds the rows' counts to their Findings.
func (t *Tallier) flushRows() {
	for i := range t.rowCounts {
		for sev, n := range t.rowCounts[i] {
			if n > 0 {
				if t.rows[i].Findings == nil {
					t.rows[i].Findings = map[string]int{}
				}
				t.rows[i].Findings[rules.Severity(sev).String()] += n
			}
		}
		t.rowCounts[i] = [rowSeverities]int{}
	}
}

// Fill sets s's number of findings and its by-severity, host and cookie
// counts from the findings added, and with CountHosts each host's.
func (t *Tallier) Fill(s *Summary) {
	t.flushRows()
	s.BySeverity = map[string]int{}
	for sev, n := range t.bySeverity {
		if n > 0 {
			s.BySeverity[rules.Severity(sev).String()] = n
		}
	}
	s.Findings, s.FindingHosts, s.Cookies = t.n, len(t.hosts), len(t.cookies)
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
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f { // not printable ASCII: look at the runes
			for _, r := range s[i:] {
				if r == utf8.RuneError || !unicode.IsPrint(r) {
					clean = false
					break
				}
			}
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
