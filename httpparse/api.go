package httpparse

import (
	"net/netip"
	"time"
)

// Span says which frame carried a run of consecutive stream bytes (mirrors
// capture.Span; the cmd adapter converts, so httpparse stays standard-library only).
type Span struct {
	Len   int
	Frame uint64
	Time  time.Time
}

// Side names one of a connection's two endpoints as the capture layer oriented
// them (0 = ConnInfo.Addr[0]). Which side is the client is decided from content.
type Side uint8

// ConnInfo describes a connection as seen by the parser.
type ConnInfo struct {
	Addr [2]netip.AddrPort // indexed by Side
}

// Proto is what a connection was recognised to carry.
type Proto uint8

const (
	ProtoUnknown Proto = iota // not yet decided
	ProtoHTTP                 // HTTP/1.x seen
	ProtoTLS                  // TLS record header seen first
	ProtoOther                // neither; the connection's bytes are dropped cheaply
)

// Header is one header field as it appeared on the wire (name as sent, value
// with surrounding whitespace trimmed and obsolete folding joined by one space).
type Header struct {
	Name, Value string
}

// Message is what requests and responses share.
type Message struct {
	Client, Server netip.AddrPort // decided by content
	Proto          string         // "HTTP/1.1", "HTTP/1.0"
	Headers        []Header       // in wire order, repeated fields kept
	Frame          uint64         // frame that carried the last byte of the header block
	Time           time.Time      // capture time of that frame
	Truncated      bool           // header block cut by a gap or end of input; Headers hold the complete lines before the cut
}

// Request is an HTTP request's head.
type Request struct {
	Message
	Method, Target string
	Host           string   // Host header, else the authority of an absolute-form target, else ""
	Path           string   // target path and query as sent (absolute form reduced to path)
	Cookies        []Cookie // every pair of every Cookie header line, in order
}

// Response is an HTTP response's head.
type Response struct {
	Message
	Status     int
	Reason     string
	Request    *Request    // the request it answers (first in, first out), nil if never seen
	SetCookies []SetCookie // one per Set-Cookie line, in order, malformed ones included (Err set)
}

// Handler receives messages as soon as their header block is complete (bodies
// are not waited for). Exactly one of req and resp is non-nil.
type Handler interface {
	Request(c *ConnInfo, req *Request)
	Response(c *ConnInfo, resp *Response)
}

// MessageFilter is implemented by a Handler that wants only some messages.
// Want is called with each message's start line and header fields parsed in
// place: they point into the parser's buffer and are valid only during the
// call, so Want must keep nothing. For the messages it declines, a Conn still
// frames, pairs and counts them but builds no Request or Response and does
// not call the Handler, so they cost no allocation (a declined request's
// header block is kept, so a wanted response still gets its full Request).
//
// frame and t are those of the frame that ended the header block.
type MessageFilter interface {
	Want(request bool, start string, hdrs []Header, frame uint64, t time.Time) bool
}

// Transient is implemented by a Handler that keeps nothing of the messages
// it is given past the call that hands each over (it copies what it keeps).
// Its Conn then builds no message of its own: the Request or Response, its
// Headers, Cookies and SetCookies, a Response's Request, and every string in
// them point into the bytes of the Data call and into storage the Conn
// reuses for its next message, so they are valid only during the call.
// That saves the copy of each head (and the allocation of the message,
// its fields and a response's Request) which a Handler that hands messages
// to another goroutine, as most do, would otherwise need. The messages are
// otherwise the same as those of any other Handler (TestTransientMatches).
type Transient interface {
	TransientMessages()
}
