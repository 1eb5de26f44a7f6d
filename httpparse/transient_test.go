package httpparse

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// transientRecorder is a recorder whose Conn hands it transient messages
// (Transient): it keeps deep copies made during each call, as a Transient
// Handler must.
type transientRecorder struct{ recorder }

func (*transientRecorder) TransientMessages() {}

func (r *transientRecorder) Request(c *ConnInfo, req *Request) {
	r.recorder.Request(c, cloneRequest(req))
}

func (r *transientRecorder) Response(c *ConnInfo, resp *Response) {
	r.recorder.Response(c, cloneResponse(resp))
}

// transientCookieRecorder is a transientRecorder wanting only cookie messages.
type transientCookieRecorder struct{ transientRecorder }

func (*transientCookieRecorder) Want(request bool, _ string, hdrs []Header, _ uint64, _ time.Time) bool {
	return HasCookieHeader(hdrs, request)
}

func cloneHeaders(hs []Header) []Header {
	if hs == nil {
		return nil
	}
	out := make([]Header, len(hs))
	for i, h := range hs {
		out[i] = Header{strings.Clone(h.Name), strings.Clone(h.Value)}
	}
	return out
}

func cloneMessage(m Message) Message {
	m.Proto = strings.Clone(m.Proto)
	m.Headers = cloneHeaders(m.Headers)
	return m
}

func cloneRequest(r *Request) *Request {
	if r == nil {
		return nil
	}
	o := *r
	o.Message = cloneMessage(r.Message)
	o.Method, o.Target, o.Host, o.Path = strings.Clone(r.Method), strings.Clone(r.Target), strings.Clone(r.Host), strings.Clone(r.Path)
	if r.Cookies != nil {
		o.Cookies = make([]Cookie, len(r.Cookies))
		for i, ck := range r.Cookies {
			o.Cookies[i] = Cookie{strings.Clone(ck.Name), strings.Clone(ck.Value), ck.Line}
		}
	}
	return &o
}

func cloneResponse(r *Response) *Response {
	o := *r
	o.Message = cloneMessage(r.Message)
	o.Reason = strings.Clone(r.Reason)
	o.Request = cloneRequest(r.Request)
	if r.SetCookies != nil {
		o.SetCookies = make([]SetCookie, len(r.SetCookies))
		for i, sc := range r.SetCookies {
			sc.Raw, sc.Name, sc.Value = strings.Clone(sc.Raw), strings.Clone(sc.Name), strings.Clone(sc.Value)
			sc.Domain, sc.Path, sc.SameSiteRaw = strings.Clone(sc.Domain), strings.Clone(sc.Path), strings.Clone(sc.SameSiteRaw)
			if sc.Unknown != nil {
				u := make([]string, len(sc.Unknown))
				for j, s := range sc.Unknown {
					u[j] = strings.Clone(s)
				}
				sc.Unknown = u
			}
			o.SetCookies[i] = sc
		}
	}
	return &o
}

// checkTransient checks that Transient Handlers got the messages of their
// non-transient twins, equal in every field, and that the Conns counted the
// same: full and cookie-only are the twins of tfull and tcookie.
func checkTransient(t *testing.T, full, tfull *recorder, fst, tfst *Stats, cookie, tcookie *recorder, cst, tcst *Stats) {
	t.Helper()
	for _, x := range []struct {
		name       string
		want, got  *recorder
		wst, gotSt *Stats
	}{{"transient", full, tfull, fst, tfst}, {"transient cookie-only", cookie, tcookie, cst, tcst}} {
		if !reflect.DeepEqual(x.want.reqs, x.got.reqs) {
			t.Errorf("%s handler: requests differ:\n got %+v\nwant %+v", x.name, x.got.reqs, x.want.reqs)
		}
		if !reflect.DeepEqual(x.want.resps, x.got.resps) {
			t.Errorf("%s handler: responses differ:\n got %+v\nwant %+v", x.name, x.got.resps, x.want.resps)
		}
		if !reflect.DeepEqual(x.wst, x.gotSt) {
			t.Errorf("%s handler: stats differ:\n got %+v\nwant %+v", x.name, x.gotSt, x.wst)
		}
	}
}
