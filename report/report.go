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
	Files           []string  `json:"files"`
	Packets         uint64    `json:"packets"`
	TCPConnections  uint64    `json:"tcp_connections"`
	HTTPConnections uint64    `json:"http_connections"`
	TLSConnections  uint64    `json:"tls_connections"`
	Requests        uint64    `json:"requests"`
	Responses       uint64    `json:"responses"`
	Findings        int       `json:"findings"`    // after aggregation
	Occurrences     int       `json:"occurrences"` // before aggregation
	Gaps            uint64    `json:"gaps"`        // TCP sequence gaps (lost or uncaptured bytes)
	Fragments       uint64    `json:"ipv4_fragments,omitempty"`
	Reassembled     uint64    `json:"ipv4_reassembled,omitempty"` // datagrams rebuilt from fragments
	Skipped         []Counter `json:"skipped,omitempty"`
	Anomalies       []Counter `json:"anomalies,omitempty"`
	Warnings        []string  `json:"warnings,omitempty"`

	// Live describes a live capture (-i); nil for files.
	Live *LiveStats `json:"live,omitempty"`
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
