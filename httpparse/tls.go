package httpparse

import (
	"fmt"
	"net/netip"
	"time"
)

// TLS recognition: a side whose first bytes are a plausible TLS record header
// (handshake, or application data when the capture starts mid-connection)
// marks the connection ProtoTLS, on any port. A side that starts with a
// handshake record buffers its first handshake message (across records and
// Data calls, at most Limits.MaxHeaderBytes): a ClientHello gives the server
// name (SNI), the offered versions and ALPN protocols; a ServerHello the
// chosen version. Then the side's bytes are dropped. A malformed hello is
// counted as "bad-tls-hello", one over the limit as "tls-hello-too-large",
// one cut by a gap or the end of input as "tls-hello-truncated"; none is
// fatal and the connection stays ProtoTLS.

const (
	maxTLSRecord  = 1<<14 + 2048 // TLSCiphertext bound (RFC 8446 5.2)
	maxTLSListLen = 16           // versions or ALPN protocols kept per hello
	maxALPNName   = 64           // bytes kept of one ALPN protocol name
)

// TLS record content types (RFC 8446 5.1).
const (
	recordHandshake   = 22
	recordApplication = 23
)

// TLSInfo is what the clear-text start of a TLS handshake said. Fields whose
// hello was not seen are zero.
type TLSInfo struct {
	// Client and Server are decided by content: the side that sent the
	// ClientHello is the client (the ServerHello's sender the server).
	// Zero until a hello is seen.
	Client, Server netip.AddrPort

	ClientHello   bool     // a complete, well-formed ClientHello was parsed
	SNI           string   // first host_name of server_name, "" if none
	LegacyVersion uint16   // ClientHello.legacy_version
	Versions      []uint16 // offered: supported_versions without GREASE, else [legacy_version]; at most 16
	ALPN          []string // offered application protocols, at most 16
	HelloFrame    uint64   // frame that completed the ClientHello
	HelloTime     time.Time

	// Latest is the handshake type of the hello a TLSHandler call reports:
	// 1 for the ClientHello, 2 for the ServerHello.
	Latest uint8

	ServerHello bool   // a complete, well-formed ServerHello was parsed
	Version     uint16 // chosen: supported_versions of the ServerHello, else its legacy_version
	ServerALPN  string // protocol chosen in a TLS 1.2 ServerHello (TLS 1.3 encrypts it)
	ServerFrame uint64
	ServerTime  time.Time
}

// TLSHandler is an optional extension of Handler: when the Handler given to
// NewConn implements it, TLSHello is called each time a ClientHello or a
// ServerHello has been parsed, with everything known about the connection's
// handshake so far. t is only valid during the call.
type TLSHandler interface {
	TLSHello(c *ConnInfo, t *TLSInfo)
}

// TLS returns what the connection's handshake said so far (zero if it is not
// TLS or no hello was parsed). The slices are shared: do not modify them.
func (c *Conn) TLS() TLSInfo {
	if c.tls == nil {
		return TLSInfo{}
	}
	return *c.tls
}

// VersionName names a TLS protocol version ("TLS 1.3"), or gives it in hex.
func VersionName(v uint16) string {
	switch v {
	case 0x0300:
		return "SSL 3.0"
	case 0x0301, 0x0302, 0x0303, 0x0304:
		return fmt.Sprintf("TLS 1.%d", v-0x0301)
	}
	return fmt.Sprintf("0x%04x", v)
}

// isGREASE reports a reserved GREASE value (RFC 8701): 0x?a?a with equal bytes.
func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// stepTLS buffers the start of a side's stream until its first handshake
// message is complete, or the bytes prove not to be TLS.
func (c *Conn) stepTLS(sd int, data []byte, off int, cur *spanCursor) int {
	s := &c.side[sd]
	if len(s.buf) == 0 && len(data) >= 5 && data[0] == recordHandshake && plausibleRecordPrefix(data[:5]) {
		// The usual case: the whole first handshake message is in this
		// delivery. It is read where it lies, as the buffered path below
		// would read the same bytes (the delivery up to MaxHeaderBytes),
		// instead of being copied into the side's buffer, which a hello
		// larger than the pooled buffer would make allocate.
		whole := data[:min(len(data), c.lim.MaxHeaderBytes)]
		if typ, body, done, _, _ := firstHandshake(whole, c.lim.MaxHeaderBytes); done {
			c.recognisedTLS(sd)
			frame, t := cur.at(off + len(whole) - 1) // the buffered path's last byte
			c.hello(sd, typ, body, frame, t)
			s.st = stOff
			s.release()
			return len(whole)
		}
	}
	recognised := len(s.buf) >= 5
	n := len(data)
	if !recognised {
		n = min(n, 5-len(s.buf)) // decide on the record header first
	} else if room := c.lim.MaxHeaderBytes - len(s.buf); n > room {
		n = room
	}
	s.take(c.lim.MaxHeaderBytes)
	s.grow(n, c.lim.MaxHeaderBytes)
	s.buf = append(s.buf, data[:n]...)
	if !recognised {
		if bad := !plausibleRecordPrefix(s.buf); bad || len(s.buf) == 5 {
			if bad {
				// Not TLS: look at these bytes as text. The first byte (0x16)
				// cannot start HTTP, so skip the line they begin.
				held := append([]byte(nil), s.buf...)
				s.buf = s.buf[:0]
				s.st = stSkipLine
				s.skipped, s.syncing = true, true
				c.feed(sd, held, &spanCursor{})
				return n
			}
			c.recognisedTLS(sd)
			if s.buf[0] != recordHandshake { // mid-connection: no hello to read
				s.st = stOff
				s.release()
			}
		}
		return n
	}
	typ, body, done, bad, tooLarge := firstHandshake(s.buf, c.lim.MaxHeaderBytes)
	switch {
	case done:
		frame, t := cur.at(off + n - 1)
		c.hello(sd, typ, body, frame, t)
	case bad:
		c.st.anomaly("bad-tls-hello")
	case tooLarge || len(s.buf) >= c.lim.MaxHeaderBytes:
		c.st.anomaly("tls-hello-too-large")
	default:
		return n
	}
	s.st = stOff
	s.release()
	return n
}

// recognisedTLS marks the connection TLS on a plausible record header on
// side sd: the other side stops parsing unless it may carry TLS too.
func (c *Conn) recognisedTLS(sd int) {
	if c.proto != ProtoTLS {
		c.proto = ProtoTLS
		c.st.TLSConns++
	}
	o := &c.side[1-sd]
	if o.st != stDetect && o.st != stTLS {
		o.st = stOff
		o.release()
	}
}

// hello parses a complete first handshake message of side sd and tells the
// handler. Messages other than ClientHello and ServerHello are ignored.
func (c *Conn) hello(sd int, typ byte, body []byte, frame uint64, t time.Time) {
	if typ != 1 && typ != 2 {
		return
	}
	if c.tls == nil {
		c.tls = &TLSInfo{}
	}
	ti := c.tls
	var ok bool
	if typ == 1 {
		ok = parseClientHello(body, ti)
		if ok {
			ti.ClientHello, ti.HelloFrame, ti.HelloTime = true, frame, t
			ti.Client, ti.Server = c.info.Addr[sd], c.info.Addr[1-sd]
			c.sni = ti.SNI
		}
	} else {
		ok = parseServerHello(body, ti)
		if ok {
			ti.ServerHello, ti.ServerFrame, ti.ServerTime = true, frame, t
			ti.Server, ti.Client = c.info.Addr[sd], c.info.Addr[1-sd]
		}
	}
	if !ok {
		c.st.anomaly("bad-tls-hello")
		return
	}
	ti.Latest = typ
	if th, isTH := c.h.(TLSHandler); isTH {
		th.TLSHello(&c.info, ti)
	}
}

// tlsCut counts a hello that a gap or the end of input cut short.
func (c *Conn) tlsCut(sd int) {
	if s := &c.side[sd]; s.st == stTLS && len(s.buf) > 0 {
		c.st.anomaly("tls-hello-truncated")
	}
}

// plausibleRecordPrefix checks the bytes of a TLS record header seen so far:
// handshake or application data, version 3.0–3.4, length 1..maxTLSRecord.
func plausibleRecordPrefix(b []byte) bool {
	if (b[0] != recordHandshake && b[0] != recordApplication) || (len(b) > 1 && b[1] != 3) || (len(b) > 2 && b[2] > 4) {
		return false
	}
	if len(b) >= 5 {
		l := int(b[3])<<8 | int(b[4])
		return l > 0 && l <= maxTLSRecord
	}
	return true
}

// firstHandshake looks for the first complete handshake message in the
// handshake records in buf (a message may span records). done: typ and body
// are set; bad: the records are malformed; tooLarge: the message's declared
// length cannot fit in limit bytes.
func firstHandshake(buf []byte, limit int) (typ byte, body []byte, done, bad, tooLarge bool) {
	var hs []byte
	for first := true; len(buf) >= 5; first = false {
		if !plausibleRecordPrefix(buf[:5]) || buf[0] != recordHandshake {
			return 0, nil, false, true, false
		}
		l := int(buf[3])<<8 | int(buf[4])
		end := min(len(buf), 5+l)
		// A partial record still shows the message header. The first
		// record's bytes are used in place (the hello nearly always fits in
		// one: no copy each time a segment arrives); its capacity is cut so
		// that appending a second record copies instead of writing into buf.
		if first {
			hs = buf[5:end:end]
		} else {
			hs = append(hs, buf[5:end]...)
		}
		if len(hs) >= 4 {
			n := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
			if n > limit {
				return 0, nil, false, false, true
			}
			if len(hs) >= 4+n { // the rest of the record is not needed
				return hs[0], hs[4 : 4+n], true, false, false
			}
		}
		if end < 5+l {
			break
		}
		buf = buf[end:]
	}
	return 0, nil, false, false, false
}

// reader is a bounds-checked cursor over a TLS structure.
type reader struct {
	b  []byte
	ok bool
}

func (r *reader) bytes(n int) []byte {
	if !r.ok || n < 0 || n > len(r.b) {
		r.ok = false
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() int {
	v := r.bytes(1)
	if v == nil {
		return 0
	}
	return int(v[0])
}

func (r *reader) u16() int {
	v := r.bytes(2)
	if v == nil {
		return 0
	}
	return int(v[0])<<8 | int(v[1])
}

// sub returns a reader over the next n bytes.
func (r *reader) sub(n int) reader {
	b := r.bytes(n)
	return reader{b: b, ok: r.ok}
}

// Extension types (IANA TLS ExtensionType registry).
const (
	extServerName        = 0
	extALPN              = 16
	extSupportedVersions = 43
)

// parseClientHello fills ti's ClientHello fields from a ClientHello body
// (RFC 8446 4.1.2): server_name (RFC 6066 3), ALPN (RFC 7301 3.1),
// supported_versions (RFC 8446 4.2.1).
func parseClientHello(body []byte, ti *TLSInfo) bool {
	r := reader{b: body, ok: true}
	ti.LegacyVersion = uint16(r.u16())
	r.bytes(32) // random
	r.bytes(r.u8())
	r.bytes(r.u16()) // cipher_suites
	r.bytes(r.u8())  // compression_methods
	if !r.ok {
		return false
	}
	ti.Versions = append(ti.Versions[:0], ti.LegacyVersion)
	if len(r.b) == 0 {
		return true // no extensions (SSL 3.0 style)
	}
	exts := r.sub(r.u16())
	for exts.ok && len(exts.b) > 0 {
		typ := exts.u16()
		e := exts.sub(exts.u16())
		if !exts.ok {
			return false
		}
		switch typ {
		case extServerName:
			list := e.sub(e.u16())
			for list.ok && len(list.b) > 0 {
				nameType := list.u8()
				name := list.bytes(list.u16())
				if list.ok && nameType == 0 && len(name) > 0 && ti.SNI == "" {
					ti.SNI = string(name)
				}
			}
			if !list.ok {
				return false
			}
		case extALPN:
			list := e.sub(e.u16())
			ti.ALPN = ti.ALPN[:0]
			for list.ok && len(list.b) > 0 {
				p := list.bytes(list.u8())
				if list.ok && len(ti.ALPN) < maxTLSListLen {
					ti.ALPN = append(ti.ALPN, string(p[:min(len(p), maxALPNName)]))
				}
			}
			if !list.ok {
				return false
			}
		case extSupportedVersions:
			list := e.sub(e.u8())
			var vs []uint16
			for list.ok && len(list.b) >= 2 {
				if v := uint16(list.u16()); !isGREASE(v) && len(vs) < maxTLSListLen {
					vs = append(vs, v)
				}
			}
			if !list.ok || len(list.b) != 0 {
				return false
			}
			if len(vs) > 0 {
				ti.Versions = vs
			}
		}
	}
	return exts.ok && len(r.b) == 0
}

// parseServerHello fills ti's ServerHello fields from a ServerHello body
// (RFC 8446 4.1.3; a HelloRetryRequest has the same shape).
func parseServerHello(body []byte, ti *TLSInfo) bool {
	r := reader{b: body, ok: true}
	ti.Version = uint16(r.u16())
	r.bytes(32) // random
	r.bytes(r.u8())
	r.bytes(2) // cipher_suite
	r.bytes(1) // compression_method
	if !r.ok {
		return false
	}
	if len(r.b) == 0 {
		return true
	}
	exts := r.sub(r.u16())
	for exts.ok && len(exts.b) > 0 {
		typ := exts.u16()
		e := exts.sub(exts.u16())
		if !exts.ok {
			return false
		}
		switch typ {
		case extSupportedVersions:
			if v := e.u16(); e.ok {
				ti.Version = uint16(v)
			} else {
				return false
			}
		case extALPN:
			list := e.sub(e.u16())
			if p := list.bytes(list.u8()); list.ok {
				ti.ServerALPN = string(p[:min(len(p), maxALPNName)])
			} else {
				return false
			}
		}
	}
	return exts.ok && len(r.b) == 0
}
