package report

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/cookiewatch/cookiewatch/rules"
)

// CSV writes one row per finding under a header row. Cells that a
// spreadsheet would run as a formula (starting with = + - @ or a tab) get a
// leading apostrophe: hosts, paths and cookie names come from the traffic.
//
// Rows are written as encoding/csv's Writer writes them (comma, "\n",
// quotes only where it puts them), cell by cell into a buffer, without a
// string or a slice per row (TestCSVAsEncodingCSV).
type CSV struct {
	w      io.Writer
	header bool
	buf    []byte
	num    []byte // a number's or address's text, defused as a cell
	times  findingTimes
	err    error // the first write error: nothing is written after it
}

// NewCSV returns a CSV writer to w.
func NewCSV(w io.Writer) *CSV { return &CSV{w: w} }

// CSVColumns are the CSV header, in order (docs/json.md describes each field).
var CSVColumns = []string{"fingerprint", "severity", "confidence", "rule", "cwe", "host", "subject", "cookie",
	"value_length", "value_fingerprint", "value", "session", "session_confidence", "session_reason", "framework",
	"direction", "file", "frame", "time", "last_time", "count", "client", "server", "method", "path", "status", "tls"}

func (c *CSV) writeHeader() {
	if c.header {
		return
	}
	c.header = true
	for i, col := range CSVColumns {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		c.buf = appendCSVField(c.buf, col, false)
	}
	c.buf = append(c.buf, '\n')
}

// Write writes one finding.
func (c *CSV) Write(f *rules.Finding) error {
	if c.err != nil {
		return c.err
	}
	c.writeHeader()
	b := c.buf
	cell := func(s string) { b = appendCSVField(append(b, ','), s, true) }
	num := func() { b = appendCSVField(append(b, ','), c.num, true) }
	b = appendCSVField(b, f.Fingerprint, true)
	cell(f.Severity.String())
	cell(f.Confidence.String())
	cell(f.Rule)
	c.num = strconv.AppendInt(c.num[:0], int64(f.CWE), 10)
	num()
	cell(f.Host)
	cell(f.Subject)
	cell(f.Cookie)
	if v := f.Value; v != nil {
		c.num = strconv.AppendInt(c.num[:0], int64(v.Length), 10)
		num()
		cell(v.Fingerprint)
		cell(v.Raw)
	} else {
		b = append(b, ",,,"...)
	}
	cell(strconv.FormatBool(f.Session.Session))
	cell(f.Session.Confidence)
	cell(f.Session.Reason)
	cell(f.Framework.ID)
	cell(f.Direction)
	cell(f.File)
	c.num = strconv.AppendUint(c.num[:0], f.Frame, 10)
	num()
	c.num = c.times.time.append(c.num[:0], f.Time)
	num()
	if f.Count > 1 {
		c.num = c.times.last.append(c.num[:0], f.LastTime)
		num()
	} else {
		b = append(b, ',')
	}
	c.num = strconv.AppendInt(c.num[:0], int64(f.Count), 10)
	num()
	c.num = appendAddrText(c.num[:0], f.Client)
	num()
	c.num = appendAddrText(c.num[:0], f.Server)
	num()
	cell(f.Method)
	cell(f.Path)
	if f.Status != 0 {
		c.num = strconv.AppendInt(c.num[:0], int64(f.Status), 10)
		num()
	} else {
		b = append(b, ',')
	}
	cell(strconv.FormatBool(f.TLS))
	c.buf = append(b, '\n')
	if len(c.buf) >= 64<<10 {
		return c.flush()
	}
	return nil
}

func (c *CSV) flush() error {
	if c.err == nil && len(c.buf) > 0 {
		if _, err := c.w.Write(c.buf); err != nil {
			c.err = fmt.Errorf("report: writing CSV: %w", err)
		}
	}
	c.buf = c.buf[:0]
	return c.err
}

// Close writes the header if no finding did, and flushes.
func (c *CSV) Close(Summary, Findings) error {
	if c.err != nil {
		return c.err
	}
	c.writeHeader()
	return c.flush()
}

// appendAddrText appends p.String().
func appendAddrText(b []byte, p netip.AddrPort) []byte {
	if !p.Addr().IsValid() {
		return append(b, p.String()...) // "invalid AddrPort"; AppendTo writes nothing
	}
	return p.AppendTo(b)
}

// appendCSVField appends field as encoding/csv writes it (quoted when it
// holds a comma, a quote or a line break, starts with a space or is `\.`;
// quotes doubled inside), after the apostrophe that defuse would put
// before it, with defuse.
func appendCSVField[T string | []byte](b []byte, field T, defused bool) []byte {
	lead := defused && len(field) > 0 && (field[0] == '=' || field[0] == '+' || field[0] == '-' || field[0] == '@' ||
		field[0] == '\t' || field[0] == '\r')
	quote := string(field) == `\.`
	for i := 0; i < len(field) && !quote; i++ {
		c := field[i]
		quote = c == '\n' || c == '\r' || c == '"' || c == ','
	}
	if !quote && !lead && len(field) > 0 {
		r, _ := utf8.DecodeRuneInString(string(field[:min(len(field), utf8.UTFMax)]))
		quote = unicode.IsSpace(r)
	}
	if !quote {
		if lead {
			b = append(b, '\'')
		}
		return append(b, field...)
	}
	b = append(b, '"')
	if lead {
		b = append(b, '\'')
	}
	start := 0
	for i := 0; i < len(field); i++ {
		if field[i] == '"' {
			b = append(b, field[start:i+1]...)
			b = append(b, '"')
			start = i + 1
		}
	}
	b = append(b, field[start:]...)
	return append(b, '"')
}
