package httpparse

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// helloConn is a net.Conn that records what a TLS client writes and fails
// its reads, so a handshake stops right after the ClientHello.
type helloConn struct{ written []byte }

func (h *helloConn) Read([]byte) (int, error) { return 0, io.EOF }
func (h *helloConn) Write(b []byte) (int, error) {
	h.written = append(h.written, b...)
	return len(b), nil
}
func (h *helloConn) Close() error                     { return nil }
func (h *helloConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (h *helloConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (h *helloConn) SetDeadline(time.Time) error      { return nil }
func (h *helloConn) SetReadDeadline(time.Time) error  { return nil }
func (h *helloConn) SetWriteDeadline(time.Time) error { return nil }

// clientHello returns the first flight of a crypto/tls client for server.
func clientHello(t testing.TB, server string) []byte {
	t.Helper()
	hc := &helloConn{}
	_ = tls.Client(hc, &tls.Config{ServerName: server}).Handshake() // fails at the read; the hello is written
	if len(hc.written) < 100 {
		t.Fatalf("no ClientHello captured (%d bytes)", len(hc.written))
	}
	return hc.written
}

func TestTLSClientHelloSNI(t *testing.T) {
	hello := clientHello(t, "www.example.org")
	tests := []struct {
		name  string
		chunk int // bytes per Data call; 0 whole
		side  Side
	}{
		{name: "whole hello on side 0", side: 0},
		{name: "whole hello on side 1", side: 1},
		{name: "byte by byte", chunk: 1},
		{name: "split in 3-byte pieces", chunk: 3},
		{name: "split after record header", chunk: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &Stats{}
			rec := &recorder{}
			c := NewConn(testInfo, rec, Limits{}, st)
			for d := hello; len(d) > 0; {
				n := len(d)
				if tt.chunk > 0 {
					n = min(n, tt.chunk)
				}
				c.Data(tt.side, d[:n], nil)
				d = d[n:]
			}
			c.Data(1-tt.side, []byte("\x16\x03\x03\x00\x7a\x02"), nil) // start of a ServerHello
			c.Data(tt.side, []byte("GET / HTTP/1.1\r\n\r\n"), nil)     // encrypted in reality: ignored
			c.Close()
			if c.Proto() != ProtoTLS || c.SNI() != "www.example.org" || st.TLSConns != 1 || len(rec.log) != 0 {
				t.Errorf("Proto %v SNI %q TLSConns %d log %v anomalies %v", c.Proto(), c.SNI(), st.TLSConns, rec.log, st.Anomalies)
			}
			if n := cap(c.side[tt.side].buf); n != 0 {
				t.Errorf("buffer kept after hello: %d", n)
			}
		})
	}
}

func TestTLSNotReally(t *testing.T) {
	// 0x16 then an implausible version: not TLS; the side then finds a request.
	rec := &recorder{}
	c := NewConn(testInfo, rec, Limits{}, nil)
	c.Data(0, []byte("\x16\x09xx\r\n"+getReq), nil)
	c.Close()
	if c.Proto() != ProtoHTTP || len(rec.reqs) != 1 {
		t.Errorf("Proto %v log %v", c.Proto(), rec.log)
	}
}

// Deliberate differences from net/http, checked by the differential tests
// and fuzz targets below (and listed in doc.go):
//
//  1. A Set-Cookie line without '=' is a nameless cookie here (RFC 6265bis);
//     net/http rejects it.
//  2. net/http rejects names that are not tokens and values with bytes
//     outside cookie-octet (space, '"' inside, ',', ';', '\\', non-ASCII);
//     browsers store them, so we do too.
//  3. net/http strips one pair of surrounding quotes from values; we keep
//     values as sent.
//  4. net/http trims the whole line with textproto.TrimString (also CR, LF);
//     a line holding CTLs is ignored entirely here (Err set).
//  5. Attributes: net/http skips attributes whose value has bytes outside
//     cookie-octet (into Unparsed) and non-ASCII attribute names; the RFC
//     algorithm does not look at the value's bytes, so "Secure=\"" is Secure
//     here and not in net/http. Attribute values over 1024 bytes are ignored
//     here, not in net/http.
//  6. net/http refuses Max-Age with a leading zero ("007") and maps <= 0 to -1;
//     we keep the number (RFC: leading zeros are digits).
//  7. Domain: net/http keeps the leading dot and the case; an empty Domain
//     after a non-empty one clears it in net/http, is ignored here.
//  8. Path: a value not starting with '/' is the default path here (absent),
//     net/http keeps it.
//  9. SameSite with an unknown or empty value is SameSiteInvalid here,
//     SameSiteDefaultMode in net/http; the bare attribute likewise.
// 10. Cookie header: nameless pairs are kept (Name ""), invalid pairs never
//     make the whole header fail; net/http.ParseCookie fails the whole line.
// 11. Spaces after '=' are trimmed from the value here (RFC step 4); net/http
//     keeps them ("a= 1" has value " 1"), in Set-Cookie and Cookie alike.

// stdComparable reports whether line is in the subset where net/http and
// the RFC algorithm must agree on name, value and flags: ASCII, no CTL, no
// quotes or backslashes, no commas, one '=' in the pair, names that are tokens.
func stdComparable(line string) bool {
	pair, _, _ := strings.Cut(line, ";")
	name, _, ok := strings.Cut(pair, "=")
	if !ok || trimWSP(name) == "" {
		return false
	}
	for i := 0; i < len(line); i++ {
		ch := line[i]
		if ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\' || ch == ',' {
			return false
		}
	}
	for i := 0; i < len(name); i++ {
		if strings.IndexByte(" \t()<>@:/[]?{}=", name[i]) >= 0 && name[i] != ' ' && name[i] != '\t' {
			return false
		}
	}
	return true
}

// compareSetCookie returns a description of a disagreement with net/http on
// a line where both accept the cookie, or "" if none beyond the deliberate
// differences above.
func compareSetCookie(line string) string {
	ours := ParseSetCookie(line)
	std, err := http.ParseSetCookie(line)
	if err != nil || ours.Err != nil || !stdComparable(line) {
		return ""
	}
	var diffs []string
	// net/http keeps spaces around the value; the RFC trims them (difference 11).
	if ours.Name != std.Name || ours.Value != trimWSP(std.Value) {
		diffs = append(diffs, fmt.Sprintf("name/value %q=%q vs %q=%q", ours.Name, ours.Value, std.Name, std.Value))
	}
	// Flags: net/http ignores attributes whose value is not cookie-octets
	// (difference 5); compare only when every attribute value is clean.
	clean := true
	for _, av := range strings.Split(line, ";")[1:] {
		// net/http does not trim around the '=' of an attribute ("Secure =1",
		// "Max-Age= 1" are unknown or invalid there, honoured by the RFC's
		// algorithm): with the last occurrence winning, compare none then.
		if n, v, ok := strings.Cut(trimWSP(av), "="); ok && (n != trimWSP(n) || v != trimWSP(v)) {
			clean = false
		}
		_, v, _ := strings.Cut(av, "=")
		v = trimWSP(v)
		for i := 0; i < len(v); i++ {
			if v[i] == ' ' || v[i] == '\t' {
				clean = false
			}
		}
		if len(v) > maxAttrValue {
			clean = false
		}
	}
	if !clean {
		return strings.Join(diffs, "; ")
	}
	if ours.Secure != std.Secure || ours.HttpOnly != std.HttpOnly || ours.Partitioned != std.Partitioned {
		diffs = append(diffs, fmt.Sprintf("Secure/HttpOnly/Partitioned %v/%v/%v vs %v/%v/%v",
			ours.Secure, ours.HttpOnly, ours.Partitioned, std.Secure, std.HttpOnly, std.Partitioned))
	}
	wantSS := map[http.SameSite]SameSite{http.SameSiteLaxMode: SameSiteLax, http.SameSiteStrictMode: SameSiteStrict, http.SameSiteNoneMode: SameSiteNone}
	if s, ok := wantSS[std.SameSite]; ok && ours.SameSite != s {
		diffs = append(diffs, fmt.Sprintf("SameSite %v vs %v", ours.SameSite, std.SameSite))
	}
	// net/http ignores a Max-Age with a leading zero ("0100") that the RFC
	// accepts (difference 6): with the last occurrence winning, a line with
	// such a value can end differently, so compare only without one.
	stdMaxAgeOK := true
	// net/http also does not trim around the '=' ("Max-Age= 1" and
	// "Max-Age =1" are ignored there, honoured by the RFC's algorithm).
	for _, av := range strings.Split(line, ";")[1:] {
		n, v, _ := strings.Cut(trimWSP(av), "=")
		if strings.EqualFold(trimWSP(n), "max-age") {
			if n != trimWSP(n) || v != trimWSP(v) {
				stdMaxAgeOK = false
				continue
			}
			if secs, err := strconv.Atoi(v); err != nil || (secs != 0 && v[0] == '0') || strings.HasPrefix(v, "+") {
				stdMaxAgeOK = false
			}
		}
	}
	if stdMaxAgeOK && std.MaxAge > 0 && (!ours.HasMaxAge || ours.MaxAge != std.MaxAge) {
		diffs = append(diffs, fmt.Sprintf("MaxAge %d vs %d", ours.MaxAge, std.MaxAge))
	}
	if stdMaxAgeOK && std.MaxAge < 0 && !(ours.HasMaxAge && ours.MaxAge <= 0) {
		diffs = append(diffs, fmt.Sprintf("MaxAge %d vs %d", ours.MaxAge, std.MaxAge))
	}
	if std.Domain != "" && !strings.HasPrefix(std.Domain, ".") && std.Domain == strings.ToLower(std.Domain) && ours.Domain != std.Domain {
		diffs = append(diffs, fmt.Sprintf("Domain %q vs %q", ours.Domain, std.Domain))
	}
	if strings.HasPrefix(std.Path, "/") && ours.Path != std.Path {
		diffs = append(diffs, fmt.Sprintf("Path %q vs %q", ours.Path, std.Path))
	}
	if !std.Expires.IsZero() && (!ours.HasExpires || !ours.Expires.Equal(std.Expires)) {
		diffs = append(diffs, fmt.Sprintf("Expires %v vs %v", ours.Expires, std.Expires))
	}
	return strings.Join(diffs, "; ")
}

func TestSetCookieAgainstNetHTTP(t *testing.T) {
	names := []string{"SID", "id", "__Host-s"}
	values := []string{"1", "", "abc.def-ghi_jkl", "a=b"}
	attrs := []string{"", "; Secure", "; HttpOnly", "; secure; HTTPONLY", "; SameSite=Lax", "; SameSite=strict",
		"; samesite=None; Secure", "; Max-Age=60", "; Max-Age=0", "; Max-Age=-1", "; Domain=example.com",
		"; Path=/app", "; Expires=Wed, 09 Jun 2021 10:18:14 GMT", "; Expires=Wed, 09-Jun-2021 10:18:14 GMT",
		"; Partitioned; Secure", "; Priority=High", "; Path=/a; Path=/b"}
	n := 0
	for _, name := range names {
		for _, v := range values {
			for _, a := range attrs {
				line := name + "=" + v + a
				if d := compareSetCookie(line); d != "" {
					t.Errorf("%q: %s", line, d)
				}
				n++
			}
		}
	}
	t.Logf("%d lines compared", n)
}

func TestCookieHeaderAgainstNetHTTP(t *testing.T) {
	for _, line := range []string{"a=1", "a=1; b=2", "a=1;b=2; c=", "SID=x.y-z; theme=dark; a=1", `a="quoted"`} {
		t.Run(line, func(t *testing.T) {
			if d := compareCookieHeader(line); d != "" {
				t.Error(d)
			}
		})
	}
}

// compareCookieHeader compares with net/http.ParseCookie where it succeeds.
func compareCookieHeader(line string) string {
	std, err := http.ParseCookie(line)
	if err != nil || indexCTL(line) >= 0 {
		return "" // net/http also trims CR and LF (difference 4)
	}
	ours := ParseCookieHeader(line)
	if len(ours) != len(std) {
		return fmt.Sprintf("%q: %d pairs, net/http %d", line, len(ours), len(std))
	}
	for i, s := range std {
		v, sv := ours[i].Value, trimWSP(s.Value) // difference 11
		if s.Quoted {
			v, sv = v[1:len(v)-1], s.Value // difference 3: inside quotes nothing is trimmed
		}
		if ours[i].Name != s.Name || v != sv {
			return fmt.Sprintf("%q: pair %d %q=%q, net/http %q=%q", line, i, ours[i].Name, ours[i].Value, s.Name, s.Value)
		}
	}
	return ""
}

// compareHead parses one request or response head with Conn and with
// net/http and reports differences in method, target, status and headers.
// ok is false when net/http rejects the input.
func compareHead(raw []byte, isReq bool) (diff string, ok bool) {
	br := bufio.NewReader(strings.NewReader(string(raw)))
	var stdHdr http.Header
	var stdFirst string
	if isReq {
		r, err := http.ReadRequest(br)
		if err != nil {
			return "", false
		}
		stdHdr, stdFirst = r.Header, r.Method+" "+r.RequestURI
		if strings.HasPrefix(r.RequestURI, "/") {
			stdFirst += " host=" + r.Host // net/http moves Host out of Header
		}
	} else {
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			return "", false
		}
		stdHdr, stdFirst = r.Header, fmt.Sprint(r.StatusCode)
	}
	rec := &recorder{}
	c := NewConn(testInfo, rec, Limits{}, nil)
	c.Data(0, raw, nil)
	var hdrs []Header
	var first string
	switch {
	case isReq && len(rec.reqs) == 1:
		hdrs, first = rec.reqs[0].Headers, rec.reqs[0].Method+" "+rec.reqs[0].Target
		if strings.HasPrefix(rec.reqs[0].Target, "/") {
			first += " host=" + rec.reqs[0].Host
		}
	case !isReq && len(rec.resps) == 1:
		hdrs, first = rec.resps[0].Headers, fmt.Sprint(rec.resps[0].Status)
	default:
		return fmt.Sprintf("net/http parsed it, Conn emitted %v", rec.log), true
	}
	if first != stdFirst {
		return fmt.Sprintf("start %q vs %q", first, stdFirst), true
	}
	ours := http.Header{}
	for _, h := range hdrs {
		ours.Add(h.Name, h.Value)
	}
	if isReq {
		// Deliberate: for an absolute-form target net/http's Host is the
		// target's authority (RFC 9112 3.2.2); Request.Host prefers the
		// Host field. Host is compared above for origin-form only.
		delete(ours, "Host")
	}
	if fmt.Sprint(ours) != fmt.Sprint(stdHdr) {
		return fmt.Sprintf("headers %v vs %v", ours, stdHdr), true
	}
	return "", true
}

func TestHeadAgainstNetHTTP(t *testing.T) {
	methods := []string{"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"}
	targets := []string{"/", "/a/b?c=d&e", "http://example.com/x", "*"}
	fields := [][]string{nil, {"Host: example.com"}, {"Host: h", "Cookie: a=1", "Cookie: b=2", "Accept: */*"},
		{"host: h", "X-Empty:", "X-Spaces:   v  "}, {"Host: h", "Set-Cookie: a=1", "set-cookie: b=2"}}
	for _, m := range methods {
		for _, tg := range targets {
			if tg == "*" && m != "OPTIONS" {
				continue
			}
			for _, f := range fields {
				for _, eol := range []string{"\r\n", "\n"} {
					raw := m + " " + tg + " HTTP/1.1" + eol + strings.Join(append(f, ""), eol) + eol
					if len(f) == 0 {
						raw = m + " " + tg + " HTTP/1.1" + eol + eol
					}
					d, ok := compareHead([]byte(raw), true)
					if !ok {
						continue
					}
					if d != "" {
						t.Errorf("%q: %s", raw, d)
					}
				}
			}
		}
	}
	for _, status := range []string{"200 OK", "404 Not Found", "302 Found", "500", "204 No Content"} {
		for _, f := range fields {
			raw := "HTTP/1.1 " + status + "\r\n" + strings.Join(append(f, ""), "\r\n") + "\r\n"
			if len(f) == 0 {
				raw = "HTTP/1.1 " + status + "\r\n\r\n"
			}
			d, ok := compareHead([]byte(raw), false)
			if !ok {
				t.Errorf("%q: net/http rejected a well-formed response", raw)
				continue
			}
			if d != "" {
				t.Errorf("%q: %s", raw, d)
			}
		}
	}
}
