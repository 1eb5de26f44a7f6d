package capture

import (
	"net/netip"
	"time"
)

// Span says which frame carried a run of consecutive stream bytes. The spans
// handed to Conn.Data cover its data exactly, in order (their Len values add
// up to len(data)).
type Span struct {
	Len   int
	Frame uint64    // 1-based frame number in its file, counting every frame as Wireshark does
	Time  time.Time // capture time of that frame
}

// Dir is the direction of a connection's bytes: DirAB for bytes sent by
// ConnKey.A, DirBA for bytes sent by ConnKey.B.
type Dir uint8

const (
	DirAB Dir = 0
	DirBA Dir = 1
)

// ConnKey identifies one TCP connection. A is the endpoint that sent the first
// SYN when it was seen, else the sender of the first segment seen with data
// (segments with neither SYN nor data start no connection); which side is
// the HTTP client is decided later, by content.
type ConnKey struct {
	A, B netip.AddrPort
}

// Conn consumes the reassembled bytes of one TCP connection. The capture
// package calls it from the goroutine that runs the Analyzer, push-style; it
// never blocks waiting for more data.
type Conn interface {
	// Data hands on in-order bytes sent in direction d. data and spans are
	// only valid during the call (both are reused): the callee copies what
	// it keeps.
	Data(d Dir, data []byte, spans []Span)
	// Gap says n bytes (n < 0: an unknown number) were lost in direction d
	// before the next Data call for d.
	Gap(d Dir, n int)
	// Close ends the connection (FIN/RST on both sides, idle flush, or end of
	// input). No call follows.
	Close()
}

// Handler opens a Conn for each new TCP connection.
type Handler interface {
	Open(key ConnKey) Conn
}
