package rules

import (
	"encoding/json"
	"time"
)

// Link is one step of the evidence chain of a finding that spans messages or
// connections (package correlate): which frame of which file shows it, when,
// and what it was. Detail is traffic-derived text (a method and path, a TLS
// server name) and never holds a cookie value.
type Link struct {
	Kind   string    // "tls-hello", "request", "response", "login", …
	File   string    // capture file; "" when the run read one file without a name
	Frame  uint64    // 1-based frame number in File
	Time   time.Time // capture time
	Detail string    // e.g. "GET /account", "ClientHello SNI shop.example TLS 1.3"
}

// MarshalJSON writes a link with its time in RFC 3339, microseconds, UTC (as
// finding times are written).
func (l Link) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Kind   string `json:"kind"`
		File   string `json:"file,omitempty"`
		Frame  uint64 `json:"frame"`
		Time   string `json:"time"`
		Detail string `json:"detail,omitempty"`
	}{l.Kind, l.File, l.Frame, l.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"), l.Detail})
}

// NewValue returns the redacted form of a cookie value that findings carry:
// its length and SHA-256 fingerprint, and the value only when show is set.
func NewValue(v string, show bool) *Value { return newValue(v, show) }

// SetOrder places a finding from outside the catalogue (a cross-connection
// rule) after every catalogue rule in the total order of Compare; i is its
// index in its own list.
func (f *Finding) SetOrder(i int) { f.order = int32(len(catalogue) + i) }
