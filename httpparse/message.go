package httpparse

import (
	"bytes"
	"strings"
)

// methods are the request methods recognised in a request line. A start line
// with any other method is not taken as the start of a message: recognition is
// by content, so the list keeps binary or text protocols from passing as HTTP.
var methods = []string{
	"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
	// WebDAV (RFC 4918, 3253, 3744, 4791, 5323, 5842) and friends.
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH",
	"REPORT", "MKACTIVITY", "CHECKOUT", "CHECKIN", "UNCHECKOUT", "MERGE", "MKCALENDAR",
	"MKWORKSPACE", "VERSION-CONTROL", "LABEL", "UPDATE", "BASELINE-CONTROL", "ACL",
	"BIND", "UNBIND", "REBIND", "ORDERPATCH", "LINK", "UNLINK", "PURGE",
}

// maxMethodLen is the length of the longest entry in methods.
const maxMethodLen = len("BASELINE-CONTROL")

func isMethod(b []byte) bool {
	for _, m := range methods {
		if string(b) == m {
			return true
		}
	}
	return false
}

// requestPrefixOK reports whether b (the first bytes of a line) could begin a
// request line: a known method followed by SP.
func requestPrefixOK(b []byte) bool {
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		if len(b) > maxMethodLen {
			return false
		}
		for _, m := range methods {
			if strings.HasPrefix(m, string(b)) {
				return true
			}
		}
		return false
	}
	return isMethod(b[:sp])
}

const httpPrefix = "HTTP/1."

// statusPrefixOK reports whether b (the first bytes of a line) could begin a
// status line.
func statusPrefixOK(b []byte) bool {
	n := min(len(b), len(httpPrefix))
	return string(b[:n]) == httpPrefix[:n]
}

// validVersion matches "HTTP/1." DIGIT.
func validVersion(b []byte) bool {
	return len(b) == 8 && string(b[:7]) == httpPrefix && b[7] >= '0' && b[7] <= '9'
}

// trimEOL strips the line's LF and an optional CR before it.
// (Byte tests rather than bytes.TrimSuffix: it runs for every header line.)
func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

// isRequestLine validates method SP request-target SP HTTP-version (line
// without its end of line).
func isRequestLine(line []byte) bool {
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 || !isMethod(line[:sp1]) || !validVersion(line[sp2+1:]) {
		return false
	}
	for _, ch := range line[sp1+1 : sp2] {
		if ch <= ' ' || ch == 0x7f {
			return false
		}
	}
	return true
}

// embeddedRequest returns the offset j > 0 of the first request line that
// ends line (without its end of line) after other bytes, or -1. Only lines
// ending with SP HTTP-version are searched.
func embeddedRequest(line []byte) int {
	n := len(line)
	if n < 15 || line[n-9] != ' ' || !validVersion(line[n-8:]) {
		return -1
	}
	for j := 1; j < n-12; j++ {
		if ch := line[j]; ch >= 'A' && ch <= 'Z' && isRequestLine(line[j:]) {
			return j
		}
	}
	return -1
}

// isStatusLine validates HTTP-version SP 3DIGIT [SP reason] (line without
// its end of line). A missing reason is accepted, as browsers do.
func isStatusLine(line []byte) bool {
	if len(line) < 12 || !validVersion(line[:8]) || line[8] != ' ' {
		return false
	}
	for _, ch := range line[9:12] {
		if ch < '0' || ch > '9' {
			return false
		}
	}
	return line[9] != '0' && (len(line) == 12 || line[12] == ' ')
}

// headFlags are the per-message anomalies found while splitting a header block.
type headFlags struct {
	bareLF, obsFold, badFold, badLine, spaceBeforeColon bool
}

// parseHead splits a header block (complete lines, without the final empty
// line) into its start line and fields. Field names and values are substrings
// of block.
func parseHead(block string) (start string, hdrs []Header, f headFlags) {
	return parseHeadInto(nil, block)
}

// parseHeadInto is parseHead appending the fields to hdrs (nil: a new slice
// sized for the block).
func parseHeadInto(hdrs []Header, block string) (start string, _ []Header, f headFlags) {
	first := true
	for block != "" {
		var line string
		line, block, _ = strings.Cut(block, "\n")
		if l, ok := strings.CutSuffix(line, "\r"); ok {
			line = l
		} else {
			f.bareLF = true
		}
		if first {
			start, first = line, false
			if hdrs == nil {
				hdrs = make([]Header, 0, strings.Count(block, "\n")+1)
			}
			continue
		}
		hdrs = headerLine(hdrs, line, &f)
	}
	return start, hdrs, f
}

// headerLine adds a header block's line after the start line (without its
// end of line) to hdrs: a field, or the continuation of the last one.
func headerLine(hdrs []Header, line string, f *headFlags) []Header {
	if line == "" {
		return hdrs // only possible in a block cut short; nothing to keep
	}
	if line[0] == ' ' || line[0] == '\t' {
		if len(hdrs) == 0 {
			f.badFold = true
			return hdrs
		}
		f.obsFold = true
		h := &hdrs[len(hdrs)-1]
		if cont := trimWSP(line); h.Value == "" {
			h.Value = cont
		} else if cont != "" {
			h.Value += " " + cont
		}
		return hdrs
	}
	colon := strings.IndexByte(line, ':')
	if colon <= 0 {
		f.badLine = true
		return hdrs
	}
	name := line[:colon]
	if n := trimWSP(name); n != name {
		f.spaceBeforeColon = true
		if name = n; name == "" {
			f.badLine = true
			return hdrs
		}
	}
	return append(hdrs, Header{Name: name, Value: trimWSP(line[colon+1:])})
}

func (f headFlags) count(st *Stats) {
	if f.bareLF {
		st.anomaly("bare-lf")
	}
	if f.obsFold {
		st.anomaly("obs-fold")
	}
	if f.badFold {
		st.anomaly("bad-fold")
	}
	if f.badLine {
		st.anomaly("bad-header-line")
	}
	if f.spaceBeforeColon {
		st.anomaly("space-before-colon")
	}
}

// framing is what a message's headers say about its body.
type framing struct {
	contentLength int64 // -1: no Content-Length
	badLength     bool  // unparsable or conflicting Content-Length values
	te            bool  // a Transfer-Encoding field is present
	chunked       bool  // and its final coding is chunked
	upgrade       bool  // an Upgrade field is present
}

func framingOf(hdrs []Header) framing {
	fr := framing{contentLength: -1}
	for _, h := range hdrs {
		// The length first: most fields have none of the three lengths,
		// and EqualFold would compare their common prefix anyway. Names of
		// equal length match only in ASCII case folding: field names are
		// ASCII tokens, and a server would not take "Tranſfer-Encoding"
		// (U+017F) for Transfer-Encoding as Unicode folding does.
		switch n := len(h.Name); {
		case n != len("Content-Length") && n != len("Transfer-Encoding") && n != len("Upgrade"):
		case strings.EqualFold(h.Name, "Content-Length"):
			for v := range strings.SplitSeq(h.Value, ",") {
				n, ok := parseLength(trimWSP(v))
				if !ok || (fr.contentLength >= 0 && n != fr.contentLength) {
					fr.badLength = true
					continue
				}
				fr.contentLength = n
			}
		case strings.EqualFold(h.Name, "Transfer-Encoding"):
			fr.te = true
			last := h.Value
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if last = trimWSP(last); last != "" {
				fr.chunked = strings.EqualFold(last, "chunked")
			}
		case strings.EqualFold(h.Name, "Upgrade"):
			fr.upgrade = true
		}
	}
	return fr
}

// parseLength parses 1*DIGIT, refusing values beyond 2^53.
func parseLength(s string) (int64, bool) {
	if s == "" || len(s) > 16 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, n <= 1<<53
}

// parseChunkSize parses a chunk-size line (without end of line):
// 1*HEXDIG [BWS ";" chunk-ext].
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		ch := line[i]
		var d byte
		switch {
		case ch >= '0' && ch <= '9':
			d = ch - '0'
		case ch >= 'a' && ch <= 'f':
			d = ch - 'a' + 10
		case ch >= 'A' && ch <= 'F':
			d = ch - 'A' + 10
		default:
			goto rest
		}
		if i >= 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
rest:
	if i == 0 {
		return 0, false
	}
	tail := line[i:]
	for len(tail) > 0 && (tail[0] == ' ' || tail[0] == '\t') {
		tail = tail[1:]
	}
	if len(tail) > 0 && tail[0] != ';' {
		return 0, false
	}
	return n, true
}

// headerValue returns the first value of the named field.
func headerValue(hdrs []Header, name string) (string, bool) {
	for _, h := range hdrs {
		if len(h.Name) == len(name) && strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

// newRequest builds a Request from a parsed head whose start line is a
// valid request line.
func newRequest(start string, hdrs []Header) *Request {
	r := &Request{}
	fillRequest(r, start, hdrs, nil)
	return r
}

// fillRequest sets r (zero) from a parsed head whose start line is a valid
// request line, appending its cookies to cks (nil: a new slice of the right
// size; a Transient Conn passes storage it reuses) and returning cks.
// r.Cookies is nil when there are none, as with a new slice.
func fillRequest(r *Request, start string, hdrs []Header, cks []Cookie) []Cookie {
	method, rest, _ := strings.Cut(start, " ")
	sp := strings.LastIndexByte(rest, ' ')
	r.Method, r.Target = method, rest[:sp]
	r.Message.Proto = rest[sp+1:]
	r.Headers = hdrs
	r.Path = r.Target
	host, hasHost := headerValue(hdrs, "Host")
	var authority string
	switch {
	case method == "CONNECT":
		authority, r.Path = r.Target, ""
	case r.Target[0] != '/' && r.Target != "*":
		if i := strings.Index(r.Target, "://"); i > 0 {
			rest := r.Target[i+3:]
			end := strings.IndexAny(rest, "/?#")
			if end < 0 {
				end = len(rest)
			}
			authority, r.Path = rest[:end], rest[end:]
			if r.Path == "" || r.Path[0] != '/' {
				r.Path = "/" + r.Path
			}
		}
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:] // never keep userinfo (credentials)
	}
	if r.Path != "" {
		r.Path, _, _ = strings.Cut(r.Path, "#")
	}
	r.Host = host
	if !hasHost {
		r.Host = authority
	}
	// The pairs go straight into one slice sized for every Cookie line (a
	// slice per line, then growing Cookies, was 3 allocations a request).
	n := 0
	for _, h := range hdrs {
		if len(h.Name) == len("Cookie") && strings.EqualFold(h.Name, "Cookie") {
			n += strings.Count(h.Value, ";") + 1
		}
	}
	if n > 0 {
		start := len(cks)
		for i, h := range hdrs {
			if len(h.Name) == len("Cookie") && strings.EqualFold(h.Name, "Cookie") {
				cks = appendCookies(cks, h.Value, i, n)
			}
		}
		if len(cks) > start {
			r.Cookies = cks[start:len(cks):len(cks)]
		}
	}
	return cks
}

// newResponse builds a Response from a parsed head whose start line is a
// valid status line.
func newResponse(start string, hdrs []Header) *Response {
	r := &Response{}
	fillResponse(r, start, hdrs, nil)
	return r
}

// fillResponse sets r (zero) from a parsed head whose start line is a
// valid status line, appending its Set-Cookies to scs (nil: a new slice of
// the right size) and returning scs, as fillRequest does cookies.
func fillResponse(r *Response, start string, hdrs []Header, scs []SetCookie) []SetCookie {
	r.Message.Proto = start[:8]
	r.Status = int(start[9]-'0')*100 + int(start[10]-'0')*10 + int(start[11]-'0')
	if len(start) > 12 {
		r.Reason = trimWSP(start[13:])
	}
	r.Headers = hdrs
	n := 0
	for _, h := range hdrs {
		if len(h.Name) == len("Set-Cookie") && strings.EqualFold(h.Name, "Set-Cookie") {
			n++
		}
	}
	if n > 0 {
		// One allocation of the right size: a SetCookie is 200 bytes, and
		// growing the slice line by line was the response's largest cost.
		if scs == nil {
			scs = make([]SetCookie, 0, n)
		}
		start := len(scs)
		for _, h := range hdrs {
			if len(h.Name) == len("Set-Cookie") && strings.EqualFold(h.Name, "Set-Cookie") {
				scs = append(scs, ParseSetCookie(h.Value))
			}
		}
		r.SetCookies = scs[start:len(scs):len(scs)]
	}
	return scs
}
