package rules

import (
	"net/netip"
	"strings"
	"time"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

// sampleTime is the capture time of every sample exchange.
var sampleTime = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// sampleExchange builds the exchange a rule sample describes. A sample is
// lines separated by "\n"; a leading "https " marks the exchange as inside
// TLS. A line starting with a method ("GET /path?query") is the request
// line; "Host:", "Cookie:", "Authorization:", "Proxy-Authorization:" and
// "Referer:" lines are request headers; "Server:" and "X-Powered-By:" are
// response headers; any other line is a Set-Cookie value. The request
// defaults to "GET /" for host shop.example over plaintext HTTP.
func sampleExchange(s string) (req *httpparse.Request, resp *httpparse.Response, tls bool) {
	s, tls = strings.CutPrefix(s, "https ")
	req = &httpparse.Request{Method: "GET", Target: "/", Path: "/", Host: "shop.example"}
	req.Client = netip.MustParseAddrPort("192.0.2.10:50000")
	req.Server = netip.MustParseAddrPort("198.51.100.80:80")
	req.Frame, req.Time = 1, sampleTime
	resp = &httpparse.Response{Status: 200, Request: req}
	resp.Client, resp.Server = req.Client, req.Server
	resp.Frame, resp.Time = 2, sampleTime
	for _, line := range strings.Split(s, "\n") {
		name, value, _ := strings.Cut(line, ": ")
		switch {
		case strings.HasPrefix(line, "GET /") || strings.HasPrefix(line, "POST /"):
			req.Method, req.Target, _ = strings.Cut(line, " ")
			req.Path = req.Target
		case name == "Host":
			req.Host = value
		case name == "Cookie" || name == "Authorization" || name == "Proxy-Authorization" || name == "Referer":
			req.Headers = append(req.Headers, httpparse.Header{Name: name, Value: value})
			if name == "Cookie" {
				for _, c := range httpparse.ParseCookieHeader(value) {
					c.Line = len(req.Headers) - 1
					req.Cookies = append(req.Cookies, c)
				}
			}
		case name == "Server" || name == "X-Powered-By":
			resp.Headers = append(resp.Headers, httpparse.Header{Name: name, Value: value})
		default:
			resp.Headers = append(resp.Headers, httpparse.Header{Name: "Set-Cookie", Value: line})
			resp.SetCookies = append(resp.SetCookies, httpparse.ParseSetCookie(line))
		}
	}
	return req, resp, tls
}

// sampleObservations returns every observation of a sample exchange.
func sampleObservations(s string, opt Options) []Observation {
	req, resp, tls := sampleExchange(s)
	return observeResponse(observeRequest(nil, req, tls, opt), resp, tls, opt)
}
