package httpparse

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Cookie parsing errors. A SetCookie.Err wraps ErrMalformedCookie and, when
// one applies, a more specific sentinel; test with errors.Is. Messages never
// quote cookie values (they are secrets), only lengths and clipped names.
var (
	ErrMalformedCookie = errors.New("httpparse: malformed set-cookie")
	ErrEmptyCookie     = errors.New("httpparse: empty cookie name and value")
	ErrCookieTooLarge  = errors.New("httpparse: cookie name and value over 4096 bytes")
	ErrCookieControl   = errors.New("httpparse: control character in set-cookie")
)

// Limits of RFC 6265bis section 5.6.
const (
	maxCookieNameValue = 4096 // name+value octets, else the line is ignored
	maxAttrValue       = 1024 // attribute value octets, else the attribute is ignored
)

// ParseSetCookie parses one Set-Cookie header value with the user-agent
// algorithm of RFC 6265bis section 5.6. It always returns what it parsed;
// Err is set (wrapping ErrMalformedCookie) when a browser would ignore the
// whole line: a control character other than HTAB anywhere, name and value
// both empty, or name plus value over 4096 bytes.
//
// Deliberately unlike net/http.ParseSetCookie: a line without '=' is a
// nameless cookie (value = the whole pair), names and values are not checked
// against the RFC 6265 grammar, the last occurrence of an attribute wins
// (a later invalid Path resets Path to absent, as the default-path does),
// Expires uses the cookie-date algorithm of section 5.1.1, an empty Domain
// is ignored, and SameSite values other than Strict/Lax/None are
// SameSiteInvalid rather than net/http's default mode.
func ParseSetCookie(line string) SetCookie {
	c := SetCookie{Raw: line}
	var errs []error
	if i := indexCTL(line); i >= 0 {
		errs = append(errs, fmt.Errorf("%w at byte %d (0x%02x)", ErrCookieControl, i, line[i]))
	}
	pair, attrs, _ := strings.Cut(line, ";")
	if name, value, ok := strings.Cut(pair, "="); ok {
		c.Name, c.Value = trimWSP(name), trimWSP(value)
	} else {
		c.Value = trimWSP(pair)
	}
	switch {
	case c.Name == "" && c.Value == "":
		errs = append(errs, ErrEmptyCookie)
	case len(c.Name)+len(c.Value) > maxCookieNameValue:
		errs = append(errs, fmt.Errorf("%w: cookie %q has %d bytes", ErrCookieTooLarge, clip(c.Name, 40), len(c.Name)+len(c.Value)))
	}
	if len(errs) > 0 {
		c.Err = fmt.Errorf("%w: %w", ErrMalformedCookie, errors.Join(errs...))
	}
	for attrs != "" {
		var av string
		av, attrs, _ = strings.Cut(attrs, ";")
		c.attribute(av)
	}
	return c
}

// attribute applies one cookie-av (section 5.6 steps for each attribute);
// later attributes overwrite earlier ones, which gives "last wins".
func (c *SetCookie) attribute(av string) {
	name, value, _ := strings.Cut(av, "=")
	name, value = trimWSP(name), trimWSP(value)
	if name == "" && value == "" {
		return // ";;" or trailing ';': nothing was sent
	}
	if len(value) > maxAttrValue {
		c.Unknown = append(c.Unknown, av) // ignored by browsers; kept as evidence
		return
	}
	switch {
	case equalFoldFirst(name, "Expires"):
		if t, ok := parseCookieDate(value); ok {
			c.Expires, c.HasExpires = t, true
		}
	case equalFoldFirst(name, "Max-Age"):
		if n, ok := parseMaxAge(value); ok {
			c.MaxAge, c.HasMaxAge = n, true
		}
	case equalFoldFirst(name, "Domain"):
		if value == "" {
			return // "the user agent SHOULD ignore the cookie-av entirely"
		}
		value = strings.TrimPrefix(value, ".")
		c.Domain, c.HasDomain = strings.ToLower(value), true
	case equalFoldFirst(name, "Path"):
		if value == "" || value[0] != '/' {
			c.Path = "" // the default-path is used: the same as absent
		} else {
			c.Path = value
		}
	case equalFoldFirst(name, "Secure"):
		c.Secure = true
	case equalFoldFirst(name, "HttpOnly"):
		c.HttpOnly = true
	case equalFoldFirst(name, "Partitioned"):
		c.Partitioned = true
	case equalFoldFirst(name, "SameSite"):
		c.SameSiteRaw = value
		switch {
		case strings.EqualFold(value, "Strict"):
			c.SameSite = SameSiteStrict
		case strings.EqualFold(value, "Lax"):
			c.SameSite = SameSiteLax
		case strings.EqualFold(value, "None"):
			c.SameSite = SameSiteNone
		default:
			c.SameSite = SameSiteInvalid
		}
	default:
		c.Unknown = append(c.Unknown, trimWSP(av))
	}
}

// Deletes reports whether a browser receiving the cookie at now (the capture
// time, never the wall clock) would delete it rather than store it: Max-Age
// of zero or less, or, without a valid Max-Age, an Expires before now.
func (c SetCookie) Deletes(now time.Time) bool {
	if c.HasMaxAge {
		return c.MaxAge <= 0
	}
	return c.HasExpires && c.Expires.Before(now)
}

// equalFoldFirst is strings.EqualFold(s, t) for t ASCII and beginning
// with a letter, ruling out at once an s whose first byte is ASCII and
// not t's first letter in either case (attribute names go through up to
// eight of these: with this, strings.EqualFold's instructions fell from
// 13.3M to 9.0M on the 100 MB benchmark capture, with observeRequest's
// authOrReferer, callgrind). An s beginning with
// a multi-byte rune still goes to EqualFold, whose Unicode folding may
// match it (U+017F "ſ" folds to "s").
func equalFoldFirst(s, t string) bool {
	return s != "" && (s[0] >= utf8.RuneSelf || s[0]|0x20 == t[0]|0x20) && strings.EqualFold(s, t)
}

// parseMaxAge follows section 5.6.2: the first character is a digit or '-',
// the rest digits. Values beyond int range saturate.
func parseMaxAge(v string) (int, bool) {
	if v == "" {
		return 0, false
	}
	neg := v[0] == '-'
	digits := v
	if neg {
		digits = v[1:]
	}
	if digits == "" {
		return 0, false
	}
	n := 0
	const limit = 1 << 40 // far beyond any expiry a browser represents
	for i := 0; i < len(digits); i++ {
		ch := digits[i]
		if ch < '0' || ch > '9' {
			return 0, false
		}
		if n < limit {
			n = n*10 + int(ch-'0')
		}
	}
	if neg {
		n = -n
	}
	return n, true
}

// ParseCookieHeader splits a Cookie request header value into its pairs, in
// order. Pairs are separated by ';' and trimmed of SP/HTAB; a pair without
// '=' is a nameless cookie (Name "", Value the token), as browsers send for
// Set-Cookie lines without '='. Empty tokens are skipped; nothing else is
// dropped, and values are kept as sent (quotes included). Line is left 0;
// Conn sets it.
func ParseCookieHeader(value string) []Cookie {
	return appendCookies(nil, value, 0, 0)
}

// appendCookies appends the pairs of a Cookie header value to out with Line
// set to line; a nil out is first made with room for size pairs (at least
// those of value).
func appendCookies(out []Cookie, value string, line, size int) []Cookie {
	for value != "" {
		var tok string
		tok, value, _ = strings.Cut(value, ";")
		tok = trimWSP(tok)
		if tok == "" {
			continue
		}
		if out == nil {
			out = make([]Cookie, 0, max(size, strings.Count(value, ";")+1))
		}
		name, val, ok := strings.Cut(tok, "=")
		if !ok {
			out = append(out, Cookie{Value: tok, Line: line})
			continue
		}
		out = append(out, Cookie{Name: trimWSP(name), Value: trimWSP(val), Line: line})
	}
	return out
}

// trimWSP removes leading and trailing SP and HTAB.
func trimWSP(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// indexCTL returns the index of the first CTL other than HTAB, or -1.
func indexCTL(s string) int {
	for i := 0; i < len(s); i++ {
		if ch := s[i]; (ch < 0x20 && ch != '\t') || ch == 0x7f {
			return i
		}
	}
	return -1
}

// clip bounds untrusted text quoted in errors and anomalies.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// parseCookieDate implements the cookie-date algorithm of RFC 6265bis
// section 5.1.1. It returns the date in UTC.
func parseCookieDate(s string) (time.Time, bool) {
	var (
		foundTime, foundDay, foundMonth, foundYear bool
		hour, minute, second, day, year            int
		month                                      time.Month
	)
	for s != "" {
		// Skip delimiters, then take one date-token.
		i := 0
		for i < len(s) && isDateDelimiter(s[i]) {
			i++
		}
		s = s[i:]
		j := 0
		for j < len(s) && !isDateDelimiter(s[j]) {
			j++
		}
		tok := s[:j]
		s = s[j:]
		if tok == "" {
			break
		}
		if !foundTime {
			if h, m, sec, ok := parseHMS(tok); ok {
				foundTime, hour, minute, second = true, h, m, sec
				continue
			}
		}
		if !foundDay {
			if n, ok := leadingDigits(tok, 1, 2); ok {
				foundDay, day = true, n
				continue
			}
		}
		if !foundMonth {
			if m, ok := parseMonth(tok); ok {
				foundMonth, month = true, m
				continue
			}
		}
		if !foundYear {
			if n, ok := leadingDigits(tok, 2, 4); ok {
				foundYear, year = true, n
				continue
			}
		}
	}
	switch {
	case year >= 70 && year <= 99:
		year += 1900
	case year >= 0 && year <= 69:
		year += 2000
	}
	if !foundTime || !foundDay || !foundMonth || !foundYear ||
		day < 1 || day > 31 || year < 1601 || hour > 23 || minute > 59 || second > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, month, day, hour, minute, second, 0, time.UTC)
	if t.Day() != day { // e.g. 31 Feb: no such date
		return time.Time{}, false
	}
	return t, true
}

// isDateDelimiter: %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E.
func isDateDelimiter(ch byte) bool {
	return ch == 0x09 || (ch >= 0x20 && ch <= 0x2f) || (ch >= 0x3b && ch <= 0x40) ||
		(ch >= 0x5b && ch <= 0x60) || (ch >= 0x7b && ch <= 0x7e)
}

// leadingDigits matches min*max DIGIT ( non-digit *OCTET ).
func leadingDigits(tok string, lo, hi int) (int, bool) {
	n, i := 0, 0
	for i < len(tok) && i <= hi && tok[i] >= '0' && tok[i] <= '9' {
		n = n*10 + int(tok[i]-'0')
		i++
	}
	if i < lo || i > hi {
		return 0, false
	}
	return n, true
}

// parseHMS matches hms-time ( non-digit *OCTET ), each time-field 1*2DIGIT.
func parseHMS(tok string) (h, m, s int, ok bool) {
	var f [3]int
	for k := 0; k < 3; k++ {
		i, n := 0, 0
		for i < len(tok) && i <= 2 && tok[i] >= '0' && tok[i] <= '9' {
			n = n*10 + int(tok[i]-'0')
			i++
		}
		if i < 1 || i > 2 {
			return 0, 0, 0, false
		}
		f[k] = n
		tok = tok[i:]
		if k < 2 {
			if tok == "" || tok[0] != ':' {
				return 0, 0, 0, false
			}
			tok = tok[1:]
		}
	}
	return f[0], f[1], f[2], true
}

var monthNames = [12]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// parseMonth matches a month name's first three letters, case-insensitive,
// followed by anything.
func parseMonth(tok string) (time.Month, bool) {
	if len(tok) < 3 {
		return 0, false
	}
	for i, name := range monthNames {
		if strings.EqualFold(tok[:3], name) {
			return time.Month(i + 1), true
		}
	}
	return 0, false
}
