package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cookiewatch/cookiewatch/rules"
)

// LiveStats describe a live capture; Summary.Live holds them (JSON "live").
// The connection and buffer figures are taken when capturing stops, before
// the open connections are flushed.
type LiveStats struct {
	Interface string    `json:"interface"`
	LinkType  string    `json:"link_type"`
	Filter    string    `json:"filter,omitempty"`
	WriteFile string    `json:"write_file,omitempty"` // -w: frame numbers are this file's
	Started   time.Time `json:"started"`
	Seconds   float64   `json:"seconds"`
	Stop      string    `json:"stop,omitempty"` // why capturing stopped: signal, count, duration, error

	Received  uint64 `json:"pcap_received"`  // libpcap: packets that passed the filter
	Dropped   uint64 `json:"pcap_dropped"`   // libpcap: dropped by the kernel (ring buffer full)
	IfDropped uint64 `json:"pcap_ifdropped"` // libpcap: dropped by the interface

	ConnsTracked     int    `json:"connections_tracked"` // TCP connections held by the reassembler
	ConnsIdleFlushed uint64 `json:"connections_idle_flushed"`
	ReassemblyBytes  int    `json:"reassembly_buffered_bytes"` // out-of-order pages (upper bound)
	ParserBytes      int    `json:"parser_buffered_bytes"`     // partial header blocks in the HTTP parser
	FindingsNotKept  int    `json:"findings_not_kept,omitempty"`
}

// StatsLine is the statistics line printed periodically and at exit of a
// live capture.
func StatsLine(s Summary, l *LiveStats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d packets captured on %s (libpcap: %d received, %d dropped by kernel, %d dropped by interface); "+
		"%d connections tracked, %s buffered (reassembly %s, parser %s); %d requests, %d responses; %d findings (%d occurrences)",
		s.Packets, l.Interface, l.Received, l.Dropped, l.IfDropped, l.ConnsTracked,
		size(max(l.ReassemblyBytes, 0)+l.ParserBytes), size(l.ReassemblyBytes), size(l.ParserBytes),
		s.Requests, s.Responses, s.Findings, s.Occurrences)
	if l.FindingsNotKept > 0 {
		fmt.Fprintf(&b, "; %d findings streamed but not kept for the final table", l.FindingsNotKept)
	}
	return b.String()
}

func size(n int) string {
	switch {
	case n < 0:
		return "unknown"
	case n < 10<<10:
		return strconv.Itoa(n) + " B"
	case n < 10<<20:
		return strconv.Itoa(n>>10) + " KiB"
	}
	return strconv.Itoa(n>>20) + " MiB"
}

// LiveLine is the line a live capture prints in table mode for a new
// finding: local time, severity, rule, cookie and where it was seen.
func LiveLine(f *rules.Finding) string {
	req := strings.TrimSpace(f.Method + " " + f.Path)
	if f.Direction == "response" && f.Status != 0 {
		req += " → " + strconv.Itoa(f.Status)
	}
	line := fmt.Sprintf("%s %-6s %-20s %s=%s host %s %s → %s %s frame %d",
		f.Time.Local().Format("15:04:05.000000"), f.Severity, f.Rule, Safe(f.Cookie, 32), Safe(f.Value.String(), 48),
		Safe(f.Host, 40), f.Client, f.Server, Safe(req, 48), f.Frame)
	if f.Truncated {
		line += " (header cut)"
	}
	return line
}
