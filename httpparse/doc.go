// Package httpparse turns the two reassembled byte streams of a TCP
// connection into HTTP/1.x request and response heads, pairs each response
// with its request, and parses Cookie and Set-Cookie headers. It uses the
// standard library only.
//
// A Conn is fed push-style (Data, Gap, Close) and never blocks. Direction is
// decided from content: a request line marks the client, a status line the
// server, a TLS record marks the connection ProtoTLS (the ClientHello's SNI,
// offered versions and ALPN and the ServerHello's version are kept: TLSInfo,
// and a Handler that also implements TLSHandler is told of each hello). Bodies are skipped without copying. Memory per
// side is bounded by Limits.MaxHeaderBytes; pending requests by
// Limits.MaxPending. Trouble is counted in Stats.Anomalies, never panicked on.
//
// Deliberate differences from net/http (tested in diff_test.go and the fuzz
// targets):
//
//   - Set-Cookie follows the user agent algorithm of RFC 6265bis 5.6, not
//     net/http's server-side validation: a line without '=' is a nameless
//     cookie, names and values are not checked against the cookie-octet
//     grammar, quotes are kept, spaces around the value are trimmed, the last
//     occurrence of an attribute wins, an empty Domain is ignored, a Path not
//     starting with '/' means absent, Max-Age accepts leading zeros and keeps
//     its sign, Expires uses the cookie-date algorithm (section 5.1.1), and a
//     SameSite value other than Strict/Lax/None is SameSiteInvalid. A line
//     browsers would ignore (CTL, empty, over 4096 bytes) is still returned
//     with Err set: it was on the wire.
//   - Cookie headers never fail as a whole: every non-empty token is a pair,
//     a token without '=' is a nameless cookie, values keep their quotes.
//   - Request.Host is the Host field, falling back to an absolute-form
//     target's authority; net/http prefers the authority (RFC 9112 3.2.2).
//     Userinfo in the authority is dropped.
//   - Start lines are stricter than net/http: a known method list and
//     "HTTP/1.x" only (recognition by content must not mistake other
//     protocols for HTTP); header lines are more lenient (bare LF, obs-fold,
//     space before the colon, lines without a colon are counted and skipped
//     instead of failing the message).
package httpparse
