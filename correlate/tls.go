package correlate

import (
	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/rules"
)

// Messages decrypted from TLS (package tlsdecrypt) feed the correlation too:
// they mark their host as seen over TLS and decrypted, and a session value
// that a response inside TLS set without Secure makes
// cookie-set-over-tls-leaked exact when the same value is later sent in a
// plaintext request: the chain then starts at the decrypted Set-Cookie, not
// at a ClientHello, and the confidence is Certain. A Set-Cookie with Secure
// inside TLS counts, like a plaintext one, for secure-cookie-shadowed.

// tlsSet is where a value was seen set inside decrypted TLS.
type tlsSet struct {
	link   rules.Link
	secure bool
}

// TLSRequest records a request decrypted from TLS read from file.
func (c *Correlator) TLSRequest(file string, req *httpparse.Request) {
	c.advance(req.Time)
	c.touchHost(msgHostKey(req.Host, req.Server), req.Time).decrypted = true
}

// TLSResponse records a response decrypted from TLS read from file.
func (c *Correlator) TLSResponse(file string, resp *httpparse.Response) {
	host := ""
	if resp.Request != nil {
		host = resp.Request.Host
	}
	link := respLink(file, resp, header(resp.Headers, "Location"))
	link.Kind, link.Detail = "tls-response", link.Detail+" (decrypted TLS)"
	c.advance(resp.Time)
	h := c.touchHost(msgHostKey(host, resp.Server), resp.Time)
	hk := h.name
	h.decrypted = true
	for _, sc := range resp.SetCookies {
		if sc.Err != nil || sc.Deletes(resp.Time) {
			continue
		}
		cls := c.setCookieClass(sc)
		if sc.Secure {
			if ns := c.name(h, sc.Name, cls.Session); ns != nil && !ns.shadowed && (ns.secure == nil || before(link, *ns.secure)) {
				l := link
				ns.secure = &l
			}
		}
		if !cls.Session || sc.Value == "" {
			continue
		}
		vi := c.valueState(hk, sc.Name, sc.Value, resp.Time)
		if s := c.setTLS(vi); s == nil || before(link, s.link) || (s.secure && !sc.Secure) {
			c.tlsSets[vi] = &tlsSet{link: link, secure: sc.Secure}
			c.val(vi).tlsSet = true
		}
	}
}
