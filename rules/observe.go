package rules

import (
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

// maxLifetime is the cap browsers put on a cookie's lifetime (RFC 6265bis:
// 400 days), applied before comparing with the long-lived threshold.
const maxLifetime = 400 * 24 * time.Hour

// DefaultLifetimeThreshold is the lifetime above which long-lived-session fires.
const DefaultLifetimeThreshold = 24 * time.Hour

// hostOnly returns a host without port or brackets, lower-cased.
func hostOnly(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if !strings.Contains(h, ":") { // no port: SplitHostPort would fail, allocating its error
		return strings.Trim(h, "[]")
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		return strings.Trim(host, "[]")
	}
	return strings.Trim(h, "[]")
}

// lifetime returns a Set-Cookie's effective lifetime at now: Max-Age wins
// over Expires, capped at 400 days; 0 for a browser-session cookie.
func lifetime(c httpparse.SetCookie, now time.Time) time.Duration {
	var d time.Duration
	switch {
	case c.HasMaxAge:
		if c.MaxAge > int(maxLifetime/time.Second) {
			return maxLifetime
		}
		d = time.Duration(c.MaxAge) * time.Second
	case c.HasExpires:
		d = c.Expires.Sub(now)
	}
	return min(max(d, 0), maxLifetime)
}

// shapeValue is the value the value-shape tier of the classification may
// judge: only that of a Set-Cookie with HttpOnly. On real traffic most long
// random values belong to trackers, ad networks and load balancers, which
// scripts read or set, so they lack HttpOnly; a server-set credential
// usually has it. Request cookies carry no attributes, so they are never
// classified by value (a known limit: the same cookie in a later request is
// a session cookie only by name).
// SetCookieClass classifies a Set-Cookie line as the catalogue does (the
// value's shape counts only for HttpOnly cookies, see shapeValue).
func (c Classifier) SetCookieClass(sc httpparse.SetCookie) SessionClass {
	return c.Classify(sc.Name, shapeValue(sc))
}

// RequestCookieClass classifies a request cookie as the catalogue does: by
// name only, since a request carries no attributes to tell a session token
// from a tracker by its shape.
func (c Classifier) RequestCookieClass(ck httpparse.Cookie) SessionClass {
	return c.Classify(ck.Name, "")
}

func shapeValue(c httpparse.SetCookie) string {
	if c.HttpOnly {
		return c.Value
	}
	return ""
}

// observeResponse turns a response's Set-Cookie lines into observations.
// out is a buffer to append to.
func observeResponse(out []Observation, resp *httpparse.Response, tls bool, opt Options) []Observation {
	host := ""
	if resp.Request != nil {
		host = hostOnly(resp.Request.Host)
	}
	type identity struct{ name, domain, path string }
	var seen map[identity]int
	if len(resp.SetCookies) > 16 { // else a scan of the lines, without a map (duplicate)
		seen = map[identity]int{}
		for _, c := range resp.SetCookies {
			seen[identity{c.Name, c.Domain, c.Path}]++
		}
	}
	duplicate := func(c httpparse.SetCookie) bool {
		if seen != nil {
			return seen[identity{c.Name, c.Domain, c.Path}] > 1
		}
		n := 0
		for _, d := range resp.SetCookies {
			if d.Name == c.Name && d.Domain == c.Domain && d.Path == c.Path {
				n++
			}
		}
		return n > 1
	}
	for _, c := range resp.SetCookies {
		cls := opt.Classifier.SetCookieClass(c)
		out = append(out, Observation{
			Kind: KindSetCookie, Name: c.Name, Value: c.Value, Class: cls, Session: cls.Session, TLS: tls,
			Host: host, SetCookie: c, Deletion: c.Deletes(resp.Time), Lifetime: lifetime(c, resp.Time),
			Duplicate: duplicate(c), Threshold: opt.threshold(),
		})
	}
	return out
}

// observeRequest turns a request's cookies, Authorization headers, target
// parameters and Referer parameters into observations. Authorization
// credentials are never copied: only the scheme is kept. out is a buffer
// to append to.
func observeRequest(out []Observation, req *httpparse.Request, tls bool, opt Options) []Observation {
	host := hostOnly(req.Host)
	for _, c := range req.Cookies {
		cls := opt.Classifier.RequestCookieClass(c)
		out = append(out, Observation{Kind: KindCookie, Name: c.Name, Value: c.Value, Class: cls,
			Session: cls.Session, TLS: tls, Host: host, Threshold: opt.threshold(), Line: c.Line})
	}
	for _, h := range req.Headers {
		switch {
		case !authOrReferer(h.Name):
		case strings.EqualFold(h.Name, "Authorization"), strings.EqualFold(h.Name, "Proxy-Authorization"):
			scheme, _, _ := strings.Cut(strings.TrimSpace(h.Value), " ")
			out = append(out, Observation{Kind: KindAuthorization, Name: h.Name, Scheme: clipText(scheme, 32),
				TLS: tls, Host: host})
		case strings.EqualFold(h.Name, "Referer"):
			if !strings.ContainsAny(h.Value, ";?%") {
				// No parameters: without ';' or '?' the URL has neither
				// ;path parameters nor a query, and without '%' its path
				// decodes to nothing that has (url.Parse, which allocates
				// for every Referer, is not needed to tell).
				continue
			}
			u, err := url.Parse(h.Value)
			if err != nil || u.Host == "" {
				continue
			}
			rh := hostOnly(u.Host)
			urlParams(u.EscapedPath(), u.RawQuery, func(name, value string) {
				cls := opt.Classifier.tokenClass(name)
				out = append(out, Observation{Kind: KindRefererParam, Name: name, Value: value, Class: cls,
					Session: cls.Session, TLS: tls, Host: host, RefererHost: rh})
			})
		}
	}
	path, query, _ := strings.Cut(req.Path, "?")
	urlParams(path, query, func(name, value string) {
		cls := opt.Classifier.tokenClass(name)
		out = append(out, Observation{Kind: KindURLParam, Name: name, Value: value, Class: cls,
			Session: cls.Session, TLS: tls, Host: host})
	})
	return out
}

// authOrReferer reports whether name may be Authorization,
// Proxy-Authorization or Referer under strings.EqualFold: only a name of
// one of their lengths can, since the only runes other than ASCII letters
// that fold to ASCII letters are U+212A (k) and U+017F (s), which none of
// them has. Most of a request's fields are none of the three, and
// observeRequest compared each with all three.
func authOrReferer(name string) bool {
	switch len(name) {
	case len("Authorization"), len("Proxy-Authorization"), len("Referer"):
		return true
	}
	return false
}

// urlParams calls yield with each of a URL's ;path parameters
// (";jsessionid=…") and query parameters, values unescaped where
// possible. It splits without building slices (it runs for every request
// with a query or path parameters): the parameters are those of
// strings.Split(path, "/") with strings.Cut on ";" and of
// strings.FieldsFunc on '&' and ';' as before, in the same order.
func urlParams(path, query string, yield func(name, value string)) {
	pathParams(path, func(n, v string) bool {
		if n != "" {
			yield(n, v)
		}
		return true
	})
	for query != "" {
		i := strings.IndexAny(query, "&;")
		kv := query
		if i < 0 {
			query = ""
		} else {
			kv, query = query[:i], query[i+1:]
		}
		n, v, found := strings.Cut(kv, "=")
		if !found || n == "" {
			continue
		}
		if u, err := url.QueryUnescape(n); err == nil {
			n = u
		}
		if u, err := url.QueryUnescape(v); err == nil {
			v = u
		}
		yield(n, v)
	}
}

// tokenClass classifies a URL parameter name: session cookie names of
// frameworks and policy, and names with a sess/sid word. Broader cookie
// patterns (token, auth, names merely containing "session") are left out:
// URLs legitimately carry OAuth codes, CSRF and reset tokens, and analytics
// and ad SDKs put their own "clientSessionId"s in tracking URLs.
func (c Classifier) tokenClass(name string) SessionClass {
	var buf [64]byte
	lower := lowerInto(buf[:], name)
	cls := c.classify(name, "")
	switch {
	case cls.Session && cls.Confidence == Certain:
		return cls
	case lower == "sid" || lower == "sessid" || lower == "sessionid" || lower == "session_id" || lower == "session":
		return SessionClass{true, Firm, "parameter name " + name, ""}
	}
	return SessionClass{false, Firm, "not a session parameter name", ""}
}

// lowerInto is strings.ToLower(s) written into buf, without allocating,
// when s is ASCII and fits (cookie and parameter names, header values);
// else it is strings.ToLower(s), whose Unicode rules then apply. The
// result may be buf's bytes: it is valid while buf is and unchanged.
func lowerInto(buf []byte, s string) string {
	if len(s) > len(buf) {
		return strings.ToLower(s)
	}
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return strings.ToLower(s)
		}
		upper = upper || 'A' <= c && c <= 'Z'
	}
	if !upper {
		return s
	}
	n := copy(buf, s)
	for i, c := range buf[:n] {
		if 'A' <= c && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	return unsafe.String(&buf[0], n)
}

// pathParams calls yield with the name and value of each ;path parameter
// with "=" (";jsessionid=…"; the name may be empty) of each segment of
// path, in order, until yield returns false; it reports whether yield
// stopped it. It is the path half of both urlParams and hasSessionParam
// (RedactTarget's splitting), walked without building slices.
func pathParams(path string, yield func(name, value string) bool) (stopped bool) {
	for rest, more := path, true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/")
		_, ps, ok := strings.Cut(seg, ";")
		for ok {
			var p string
			p, ps, ok = strings.Cut(ps, ";")
			if n, v, found := strings.Cut(p, "="); found && !yield(n, v) {
				return true
			}
		}
	}
	return false
}
