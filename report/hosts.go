package report

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"

	"github.com/cookiewatch/cookiewatch/rules"
)

// Host is one row of the host report: how a host was seen (over TLS, over
// plaintext HTTP, or both) and what was found about it. Host names are the
// Host header or TLS server name, lower-cased without port; a server address
// stands in when neither was seen.
type Host struct {
	Host           string         `json:"host"`
	TLS            bool           `json:"tls"`
	Plaintext      bool           `json:"plaintext"`
	HSTS           bool           `json:"hsts"`                    // Strict-Transport-Security seen in a plaintext response
	Decrypted      bool           `json:"tls_decrypted,omitempty"` // messages inside TLS were decrypted with a key log
	TLSVersions    []string       `json:"tls_versions,omitempty"`
	ALPN           []string       `json:"alpn,omitempty"`
	SessionCookies int            `json:"session_cookies_exposed"` // session cookie names seen crossing plaintext HTTP
	Findings       map[string]int `json:"findings_by_severity,omitempty"`
	First, Last    time.Time      `json:"-"`
}

// Seen says "tls", "plaintext", "both" or "" (neither: only a name was seen).
func (h Host) Seen() string {
	switch {
	case h.TLS && h.Plaintext:
		return "both"
	case h.TLS:
		return "tls"
	case h.Plaintext:
		return "plaintext"
	}
	return ""
}

// MarshalJSON adds "seen" and writes times as finding times are written.
func (h Host) MarshalJSON() ([]byte, error) {
	type plain Host
	return json.Marshal(struct {
		plain
		Seen  string `json:"seen"`
		First string `json:"first"`
		Last  string `json:"last"`
	}{plain(h), h.Seen(), h.First.UTC().Format(TimeFormat), h.Last.UTC().Format(TimeFormat)})
}

// Correlation is the size of the cross-connection state at the end of the
// run and what its bounds cost.
type Correlation struct {
	Hosts     int       `json:"hosts"`
	Values    int       `json:"values"`
	Evictions []Counter `json:"evictions,omitempty"`
}

// CountFindings fills each host's findings by severity from fs, matching
// finding hosts through key (the correlation's host normalisation).
func CountFindings(hosts []Host, fs Findings, key func(string) string) {
	var t Tallier
	t.CountHosts(hosts, key)
	for i := range fs.Len() {
		t.Add(fs.At(i))
	}
	t.flushRows()
}

// hostsLine is the host part of the summary line.
func (s Summary) hostsLine(b *strings.Builder) {
	if len(s.Hosts) == 0 {
		return
	}
	n := map[string]int{}
	for _, h := range s.Hosts {
		n[h.Seen()]++
	}
	fmt.Fprintf(b, "; %d hosts (%d TLS only, %d plaintext only, %d both)", len(s.Hosts), n["tls"], n["plaintext"], n["both"])
	if len(s.Correlation.Evictions) > 0 {
		b.WriteString("; correlation evictions: ")
		writeCounters(b, s.Correlation.Evictions)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// WriteHosts renders the host report as a table.
func (t *Table) WriteHosts(hosts []Host) error {
	if len(hosts) == 0 {
		_, err := fmt.Fprintln(t.w, "No hosts.")
		return err
	}
	tw := tablewriter.NewWriter(t.w)
	tw.Header("Host", "TLS", "Plaintext", "HSTS", "Session cookies exposed", "Findings", "First", "Last")
	for _, h := range hosts {
		var fs []string
		for _, sev := range severityOrder {
			if n := h.Findings[sev.String()]; n > 0 {
				fs = append(fs, sev.String()+" "+strconv.Itoa(n))
			}
		}
		tlsCol := yesNo(h.TLS)
		if notes := h.TLSVersions; len(notes) > 0 || h.Decrypted {
			if h.Decrypted {
				notes = append(notes[:len(notes):len(notes)], "decrypted")
			}
			tlsCol += " (" + strings.Join(notes, ", ") + ")"
		}
		if err := tw.Append([]string{Safe(h.Host, 40), tlsCol, yesNo(h.Plaintext), yesNo(h.HSTS),
			strconv.Itoa(h.SessionCookies), strings.Join(fs, ", "),
			h.First.UTC().Format(TimeFormat), h.Last.UTC().Format(TimeFormat)}); err != nil {
			return fmt.Errorf("report: host table: %w", err)
		}
	}
	if err := tw.Render(); err != nil {
		return fmt.Errorf("report: host table: %w", err)
	}
	return nil
}

type hostRecord struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	Host
}

// MarshalJSON keeps Host's own encoding and adds the record fields.
func (r hostRecord) MarshalJSON() ([]byte, error) {
	hb, err := r.Host.MarshalJSON()
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf(`{"type":%q,"version":%d,`, r.Type, r.Version)
	return append([]byte(head), hb[1:]...), nil
}

// WriteHosts writes one "type": "host" record per host.
func (j *JSONLines) WriteHosts(hosts []Host) error {
	for _, h := range hosts {
		if err := j.enc.Encode(hostRecord{Type: "host", Version: SchemaVersion, Host: h}); err != nil {
			return fmt.Errorf("report: writing JSON: %w", err)
		}
	}
	return nil
}

// chainFrames lists a chain's frames oldest first ("3→17→42").
func chainFrames(chain []rules.Link, multi bool) string {
	return string(appendChainFrames(nil, chain, multi))
}

// appendChainFrames appends chainFrames(chain, multi).
func appendChainFrames(b []byte, chain []rules.Link, multi bool) []byte {
	for i, l := range chain {
		if i > 0 {
			b = append(b, "→"...)
		}
		if multi {
			b = append(b, filepath.Base(l.File)...)
			b = append(b, ':')
		}
		b = strconv.AppendUint(b, l.Frame, 10)
	}
	return b
}
