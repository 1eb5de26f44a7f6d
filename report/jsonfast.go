package report

import (
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cookiewatch/cookiewatch/rules"
)

// appendFinding appends the JSON Lines record of f (with its newline) as
// encoding/json writes findingRecord with HTML escaping off, field by field
// and without reflection. TestAppendFindingAsJSON holds it to
// encoding/json's bytes. (ok is always true: a finding it could not write
// would be left to encoding/json.)
func appendFinding(b []byte, f *rules.Finding) ([]byte, bool) {
	var tc findingTimes
	return tc.appendFinding(b, f)
}

// findingTimes caches the text of the last second of a finding's Time, of
// its LastTime and of its links' times for appendFinding: one of each is
// formatted in full (time.Time.AppendFormat) per second of capture, not
// per finding.
type findingTimes struct{ time, last, link timeText }

// appendFinding is appendFinding with tc's cached seconds.
func (tc *findingTimes) appendFinding(b []byte, f *rules.Finding) ([]byte, bool) {
	b = append(b, `{"type":"finding","version":`...)
	b = strconv.AppendInt(b, SchemaVersion, 10)
	b = append(b, `,"severity":`...)
	b = appendJSONString(b, f.Severity.String())
	b = append(b, `,"rule":`...)
	b = appendJSONString(b, f.Rule)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, f.Title)
	b = append(b, `,"cwe":`...)
	b = strconv.AppendInt(b, int64(f.CWE), 10)
	b = append(b, `,"fingerprint":`...)
	b = appendJSONString(b, f.Fingerprint)
	b = append(b, `,"subject":`...)
	b = appendJSONString(b, f.Subject)
	b = append(b, `,"cookie":`...)
	b = appendJSONString(b, f.Cookie)
	if v := f.Value; v != nil {
		b = append(b, `,"value":{"length":`...)
		b = strconv.AppendInt(b, int64(v.Length), 10)
		b = append(b, `,"fingerprint":`...)
		b = appendJSONString(b, v.Fingerprint)
		if v.Raw != "" {
			b = append(b, `,"raw":`...)
			b = appendJSONString(b, v.Raw)
		}
		b = append(b, '}')
	}
	if f.Scheme != "" {
		b = append(b, `,"scheme":`...)
		b = appendJSONString(b, f.Scheme)
	}
	b = append(b, `,"session":{"session":`...)
	b = strconv.AppendBool(b, f.Session.Session)
	b = append(b, `,"confidence":`...)
	b = appendJSONString(b, f.Session.Confidence)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, f.Session.Reason)
	b = append(b, `},"framework":{"id":`...)
	b = appendJSONString(b, f.Framework.ID)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, f.Framework.Name)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, f.Framework.Reason)
	b = append(b, `},"fix":`...)
	b = appendJSONString(b, f.Fix)
	b = append(b, `,"direction":`...)
	b = appendJSONString(b, f.Direction)
	if f.Deletion {
		b = append(b, `,"deletion":true`...)
	}
	if a := f.Attrs; a != nil {
		b = append(b, `,"attributes":{"secure":`...)
		b = strconv.AppendBool(b, a.Secure)
		b = append(b, `,"httponly":`...)
		b = strconv.AppendBool(b, a.HttpOnly)
		b = appendOmitEmpty(b, `,"samesite":`, a.SameSite)
		b = appendOmitEmpty(b, `,"domain":`, a.Domain)
		b = appendOmitEmpty(b, `,"path":`, a.Path)
		if a.MaxAge != nil {
			b = append(b, `,"max_age":`...)
			b = strconv.AppendInt(b, int64(*a.MaxAge), 10)
		}
		b = appendOmitEmpty(b, `,"expires":`, a.Expires)
		if a.Partitioned {
			b = append(b, `,"partitioned":true`...)
		}
		if len(a.Unknown) > 0 {
			b = append(b, `,"unknown":[`...)
			for i, u := range a.Unknown {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, u)
			}
			b = append(b, ']')
		}
		b = appendOmitEmpty(b, `,"malformed":`, a.Malformed)
		b = append(b, '}')
	}
	b = appendOmitEmpty(b, `,"header":`, f.Line)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, f.Host)
	b = append(b, `,"client":`...)
	b = appendAddrPort(b, f.Client)
	b = append(b, `,"server":`...)
	b = appendAddrPort(b, f.Server)
	b = appendOmitEmpty(b, `,"file":`, f.File)
	b = append(b, `,"frame":`...)
	b = strconv.AppendUint(b, f.Frame, 10)
	b = appendOmitEmpty(b, `,"method":`, f.Method)
	b = appendOmitEmpty(b, `,"path":`, f.Path)
	if f.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(f.Status), 10)
	}
	b = append(b, `,"tls":`...)
	b = strconv.AppendBool(b, f.TLS)
	if f.Truncated {
		b = append(b, `,"truncated_header":true`...)
	}
	if len(f.Chain) > 0 {
		b = append(b, `,"chain":[`...)
		for i := range f.Chain {
			if i > 0 {
				b = append(b, ',')
			}
			b = tc.appendLink(b, &f.Chain[i])
		}
		b = append(b, ']')
	}
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(f.Count), 10)
	b = append(b, `,"confidence":`...)
	b = appendJSONString(b, f.Confidence.String())
	b = append(b, `,"time":"`...)
	b = tc.time.append(b, f.Time) // digits, '-', ':', '.', 'Z', '+': nothing to escape
	b = append(b, '"')
	if f.Count > 1 && !f.LastTime.Equal(f.Time) {
		b = append(b, `,"last_time":"`...)
		b = tc.last.append(b, f.LastTime)
		b = append(b, '"')
	}
	return append(b, "}\n"...), true
}

// appendLink appends what Link.MarshalJSON writes: json.Marshal's bytes,
// HTML escaping on.
func (tc *findingTimes) appendLink(b []byte, l *rules.Link) []byte {
	b = append(b, `{"kind":`...)
	b = appendString(b, l.Kind, true)
	if l.File != "" {
		b = append(b, `,"file":`...)
		b = appendString(b, l.File, true)
	}
	b = append(b, `,"frame":`...)
	b = strconv.AppendUint(b, l.Frame, 10)
	b = append(b, `,"time":"`...)
	b = tc.link.append(b, l.Time)
	b = append(b, '"')
	if l.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendString(b, l.Detail, true)
	}
	return append(b, '}')
}

func appendOmitEmpty(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendJSONString(append(b, key...), s)
}

// appendAddrPort appends an address as encoding/json writes a
// TextMarshaler: its text (AppendTo is MarshalText) as a JSON string.
func appendAddrPort(b []byte, p netip.AddrPort) []byte {
	start := len(b)
	b = p.AppendTo(b)
	for _, c := range b[start:] {
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf { // a zone: escape as strings are
			text := string(b[start:])
			return appendJSONString(b[:start], text)
		}
	}
	b = append(b, 0)
	copy(b[start+1:], b[start:])
	b[start] = '"'
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// jsonSafe is the ASCII bytes a JSON string holds as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string exactly as encoding/json
// does with HTML escaping off: '"', '\\' and C0 controls escaped (\b \f \n
// \r \t by name), invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte { return appendString(b, s, false) }

// appendString is appendJSONString, with html: '<', '>' and '&' escaped
// too, as json.Marshal does.
func appendString(b []byte, s string, html bool) []byte {
	b = append(b, '"')
	b = appendStringBody(b, s, html)
	return append(b, '"')
}

// appendStringBody is appendString without the quotes, for text in a
// string or a []byte.
func appendStringBody[T string | []byte](b []byte, s T, html bool) []byte {
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while none needs a look (most text is
		// plain ASCII): a run is copied at once when it ends.
		if i+8 <= len(s) && plain8(s[i:i+8], html) {
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] && !(html && (c == '<' || c == '>' || c == '&')) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plain8 reports whether the 8 bytes of s are ASCII that a JSON string
// holds as they are: none below 0x20, '"', '\\' or from 0x80 on (nor '<',
// '>' or '&' with html). The tests are the classic bit tricks, exact for
// whether any byte matches (a borrow only spreads from a byte that does).
func plain8[T string | []byte](s T, html bool) bool {
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	if x&highs != 0 {
		return false
	}
	// With no high bit set, x-0x20 per byte sets one only below 0x20.
	bad := (x - 0x20*ones) | zeroByte(x^('"'*ones)) | zeroByte(x^('\\'*ones))
	if html {
		bad |= zeroByte(x^('<'*ones)) | zeroByte(x^('>'*ones)) | zeroByte(x^('&'*ones))
	}
	return bad&highs == 0
}

// zeroByte sets the high bit of some byte when x (bytes below 0x80) has a
// zero byte, and only then.
func zeroByte(x uint64) uint64 { return (x - ones) &^ x }

// timeText appends times in TimeFormat, in UTC, keeping the text of the
// last second it formatted: findings' times are mostly close together.
type timeText struct {
	sec    int64
	set    bool
	prefix []byte // "2006-01-02T15:04:05" of sec, as AppendFormat writes it
}

// append appends t as t.UTC().AppendFormat(b, TimeFormat) does.
func (tt *timeText) append(b []byte, t time.Time) []byte {
	t = t.UTC()
	if sec := t.Unix(); !tt.set || sec != tt.sec {
		tt.prefix = t.AppendFormat(tt.prefix[:0], "2006-01-02T15:04:05")
		tt.sec, tt.set = sec, true
	}
	b = append(b, tt.prefix...)
	// ".000000": the microseconds, truncated; "Z07:00": "Z" in UTC.
	us := t.Nanosecond() / 1000
	return append(b, '.',
		byte('0'+us/100000), byte('0'+us/10000%10), byte('0'+us/1000%10),
		byte('0'+us/100%10), byte('0'+us/10%10), byte('0'+us%10), 'Z')
}
