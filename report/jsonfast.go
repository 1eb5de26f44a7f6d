package report

import (
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/cookiewatch/cookiewatch/rules"
)

// appendFinding appends the JSON Lines record of f (with its newline) as
// encoding/json writes findingRecord with HTML escaping off, field by field
// and without reflection. TestAppendFindingAsJSON holds it to
// encoding/json's bytes. (ok is always true: a finding it could not write
// would be left to encoding/json.)
func appendFinding(b []byte, f *rules.Finding) ([]byte, bool) {
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
			b = appendLink(b, &f.Chain[i])
		}
		b = append(b, ']')
	}
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(f.Count), 10)
	b = append(b, `,"confidence":`...)
	b = appendJSONString(b, f.Confidence.String())
	b = append(b, `,"time":"`...)
	b = f.Time.UTC().AppendFormat(b, TimeFormat) // digits, '-', ':', '.', 'Z', '+': nothing to escape
	b = append(b, '"')
	if f.Count > 1 && !f.LastTime.Equal(f.Time) {
		b = append(b, `,"last_time":"`...)
		b = f.LastTime.UTC().AppendFormat(b, TimeFormat)
		b = append(b, '"')
	}
	return append(b, "}\n"...), true
}

// appendLink appends what Link.MarshalJSON writes: json.Marshal's bytes,
// HTML escaping on.
func appendLink(b []byte, l *rules.Link) []byte {
	b = append(b, `{"kind":`...)
	b = appendString(b, l.Kind, true)
	if l.File != "" {
		b = append(b, `,"file":`...)
		b = appendString(b, l.File, true)
	}
	b = append(b, `,"frame":`...)
	b = strconv.AppendUint(b, l.Frame, 10)
	b = append(b, `,"time":"`...)
	b = l.Time.UTC().AppendFormat(b, TimeFormat)
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
	start := 0
	for i := 0; i < len(s); {
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
		r, size := utf8.DecodeRuneInString(s[i:])
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
	b = append(b, s[start:]...)
	return append(b, '"')
}
