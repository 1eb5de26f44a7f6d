package correlate

import (
	"strings"
	"unsafe"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

// Arena holds copies of plaintext messages for a Correlator that reads them
// after their parser has moved on (httpparse.Transient messages are valid
// only during the Handler call; a pipeline feeds the Correlator from another
// goroutine). A copy keeps only what Request and Response read:
//
//   - of a request: Client, Server, Frame, Time, Method, Host, Path and its
//     Cookies' Name and Value;
//   - of a response: Client, Server, Frame, Time, Status, its first Location
//     and Strict-Transport-Security fields, its Set-Cookies' Name, Value,
//     Err, Secure, HttpOnly and what Deletes reads (Max-Age, Expires), and
//     of its Request what a request's copy keeps but the cookies.
//
// The copies live in storage that Reset reuses: a Correlator keeps copies
// of whatever it keeps of a message (TestArenaMatches poisons the storage
// after each message), so the copies may be reused once the Correlator
// returned and its findings were drained.
//
// A copy of a TLSRequest or TLSResponse message would need more (the
// decrypted path reads the same fields today, but it is not fed transient
// messages): those are not copied here.
type Arena struct {
	text  []byte
	reqs  []httpparse.Request
	resps []httpparse.Response
	cks   []httpparse.Cookie
	scs   []httpparse.SetCookie
	hdrs  []httpparse.Header
}

// Reset empties a, reusing its storage for the next copies: every copy made
// so far becomes invalid. Storage that was mostly unused since the last
// Reset is let go, so that a burst of large or many messages (a hostile
// head holds thousands of Set-Cookies) is not kept once traffic is back to
// normal.
func (a *Arena) Reset() {
	if n := cap(a.text); n > 4<<10 && n > 4*len(a.text) {
		a.text = nil
	}
	a.text = a.text[:0] // bytes: nothing to clear
	a.reqs = resetKeep(a.reqs, 64)
	a.resps = resetKeep(a.resps, 64)
	a.cks = resetKeep(a.cks, 64)
	a.scs = resetKeep(a.scs, 64)
	a.hdrs = resetKeep(a.hdrs, 64)
}

// resetKeep clears s (what it points to may be let go) and empties it, or
// drops it when its capacity is over small and over 4 times what was used.
func resetKeep[T any](s []T, small int) []T {
	if cap(s) > small && cap(s) > 4*len(s) {
		return nil
	}
	clear(s)
	return s[:0]
}

// str copies s into the arena's text. A string stays valid when text grows
// (it points into the old array, which is not written again) until Reset.
func (a *Arena) str(s string) string {
	if s == "" {
		return ""
	}
	off := len(a.text)
	a.text = append(a.text, s...)
	return unsafe.String(&a.text[off], len(s))
}

// reqFields copies what Request reads of r but its cookies into o.
func (a *Arena) reqFields(o *httpparse.Request, r *httpparse.Request) {
	o.Client, o.Server, o.Frame, o.Time = r.Client, r.Server, r.Frame, r.Time
	o.Method, o.Host, o.Path = a.str(r.Method), a.str(r.Host), a.str(r.Path)
}

// Request returns a copy of req (a plaintext request) for Correlator.Request.
func (a *Arena) Request(req *httpparse.Request) *httpparse.Request {
	a.reqs = append(a.reqs, httpparse.Request{})
	o := &a.reqs[len(a.reqs)-1]
	a.reqFields(o, req)
	if len(req.Cookies) > 0 {
		start := len(a.cks)
		for _, ck := range req.Cookies {
			a.cks = append(a.cks, httpparse.Cookie{Name: a.str(ck.Name), Value: a.str(ck.Value), Line: ck.Line})
		}
		o.Cookies = a.cks[start:len(a.cks):len(a.cks)]
	}
	return o
}

// Response returns a copy of resp (a plaintext response) for Correlator.Response.
func (a *Arena) Response(resp *httpparse.Response) *httpparse.Response {
	a.resps = append(a.resps, httpparse.Response{})
	o := &a.resps[len(a.resps)-1]
	o.Client, o.Server, o.Frame, o.Time, o.Status = resp.Client, resp.Server, resp.Frame, resp.Time, resp.Status
	start := len(a.hdrs)
	for _, n := range [...]string{"Location", "Strict-Transport-Security"} {
		for _, h := range resp.Headers {
			if len(h.Name) == len(n) && strings.EqualFold(h.Name, n) {
				a.hdrs = append(a.hdrs, httpparse.Header{Name: n, Value: a.str(h.Value)})
				break
			}
		}
	}
	if len(a.hdrs) > start {
		o.Headers = a.hdrs[start:len(a.hdrs):len(a.hdrs)]
	}
	if len(resp.SetCookies) > 0 {
		start := len(a.scs)
		for i := range resp.SetCookies {
			sc := &resp.SetCookies[i]
			a.scs = append(a.scs, httpparse.SetCookie{Name: a.str(sc.Name), Value: a.str(sc.Value), Err: sc.Err,
				Secure: sc.Secure, HttpOnly: sc.HttpOnly, MaxAge: sc.MaxAge, HasMaxAge: sc.HasMaxAge,
				Expires: sc.Expires, HasExpires: sc.HasExpires})
		}
		o.SetCookies = a.scs[start:len(a.scs):len(a.scs)]
	}
	if resp.Request != nil {
		a.reqs = append(a.reqs, httpparse.Request{})
		r := &a.reqs[len(a.reqs)-1]
		a.reqFields(r, resp.Request)
		o.Request = r
	}
	return o
}
