package report

import (
	"fmt"
	"strings"
)

// TLSDecryption says what decryption with a key log did (--tls-keylog or
// pcapng Decryption Secrets Blocks). It is nil when no keys were given.
// Counts are of connections unless said otherwise; none carries a key or a
// decrypted byte.
type TLSDecryption struct {
	KeyLogEntries uint64 `json:"keylog_entries"`          // secrets read (file and blocks)
	Connections   uint64 `json:"connections"`             // TLS connections whose ClientHello was seen
	Decrypted     uint64 `json:"decrypted"`               // with at least one record decrypted
	WithoutKeys   uint64 `json:"without_keys"`            // ClientHello seen, no secrets for its client random
	NoHello       uint64 `json:"without_hello,omitempty"` // ClientHello not captured: keys cannot be matched
	Unsupported   uint64 `json:"unsupported,omitempty"`   // version or cipher suite not decrypted (CBC, TLS 1.1…)
	AuthFailures  uint64 `json:"auth_failures,omitempty"` // decryption stopped by a record that failed authentication
	Gaps          uint64 `json:"gaps,omitempty"`          // directions whose decryption a TCP gap ended
	Overruns      uint64 `json:"overruns,omitempty"`      // stopped: too much waiting for the handshake
	BadRecords    uint64 `json:"bad_records,omitempty"`   // stopped: malformed record or handshake
	Records       uint64 `json:"records"`                 // records decrypted
	KeyUpdates    uint64 `json:"key_updates,omitempty"`   // TLS 1.3 KeyUpdates followed
	HTTP2         uint64 `json:"http2_connections,omitempty"`
}

// tlsLine is the decryption part of the summary line.
func (s Summary) tlsLine(b *strings.Builder) {
	d := s.TLSDecryption
	if d == nil {
		return
	}
	fmt.Fprintf(b, "; TLS decrypted: %d of %d connections (%d records", d.Decrypted, d.Connections, d.Records)
	if d.HTTP2 > 0 {
		fmt.Fprintf(b, ", %d HTTP/2 connections", d.HTTP2)
	}
	fmt.Fprintf(b, "); TLS connections without keys: %d", d.WithoutKeys+d.NoHello)
	var more []Counter
	for _, c := range []Counter{{"without ClientHello", d.NoHello}, {"unsupported", d.Unsupported},
		{"authentication failures", d.AuthFailures}, {"gaps", d.Gaps}, {"overruns", d.Overruns},
		{"bad records", d.BadRecords}, {"key updates", d.KeyUpdates}} {
		if c.N > 0 {
			more = append(more, c)
		}
	}
	if len(more) > 0 {
		b.WriteString(" (")
		writeCounters(b, more)
		b.WriteString(")")
	}
}
