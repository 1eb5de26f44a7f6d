package httpparse

// TLS recognition: a side whose first bytes are a TLS handshake record marks
// the connection ProtoTLS. If that record starts a ClientHello, the handshake
// message is buffered (across records and Data calls, at most
// Limits.MaxHeaderBytes) and its server_name extension kept; then the
// connection's bytes are dropped.

const maxTLSRecord = 1<<14 + 2048 // TLSCiphertext bound (RFC 8446 5.2)

// stepTLS buffers the start of a side's stream until the ClientHello is
// complete, or the bytes prove not to be TLS.
func (c *Conn) stepTLS(sd int, data []byte, cur *spanCursor) int {
	s := &c.side[sd]
	recognised := len(s.buf) >= 5
	n := len(data)
	if !recognised {
		n = min(n, 5-len(s.buf)) // decide on the record header first
	} else if room := c.lim.MaxHeaderBytes - len(s.buf); n > room {
		n = room
	}
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
			if c.proto != ProtoTLS {
				c.proto = ProtoTLS
				c.st.TLSConns++
			}
			o := &c.side[1-sd]
			if o.st != stDetect && o.st != stTLS {
				o.st, o.buf = stOff, nil
			}
		}
		return n
	}
	sni, done, bad := clientHelloSNI(s.buf)
	switch {
	case done:
		if sni != "" {
			c.sni = sni
		}
	case bad:
		c.st.anomaly("bad-tls-hello")
	case len(s.buf) >= c.lim.MaxHeaderBytes:
		c.st.anomaly("tls-hello-too-large")
	default:
		return n
	}
	s.st, s.buf = stOff, nil
	return n
}

// plausibleRecordPrefix checks the bytes of a TLS record header seen so far:
// handshake (22), version 3.0–3.4, length 1..maxTLSRecord.
func plausibleRecordPrefix(b []byte) bool {
	if b[0] != 0x16 || (len(b) > 1 && b[1] != 3) || (len(b) > 2 && b[2] > 4) {
		return false
	}
	if len(b) >= 5 {
		l := int(b[3])<<8 | int(b[4])
		return l > 0 && l <= maxTLSRecord
	}
	return true
}

// clientHelloSNI looks for a complete handshake message in the records in
// buf. done: a message is complete (sni set if it was a ClientHello with a
// host_name); bad: the records or the ClientHello are malformed.
func clientHelloSNI(buf []byte) (sni string, done, bad bool) {
	var hs []byte
	for len(buf) >= 5 {
		if !plausibleRecordPrefix(buf[:5]) {
			return "", false, true
		}
		l := int(buf[3])<<8 | int(buf[4])
		if len(buf) < 5+l {
			break
		}
		hs = append(hs, buf[5:5+l]...)
		buf = buf[5+l:]
		if len(hs) >= 4 {
			if hs[0] != 1 { // not a ClientHello (a ServerHello when the client side was missed)
				return "", true, false
			}
			if n := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]); len(hs) >= 4+n {
				sni, ok := parseClientHello(hs[4 : 4+n])
				return sni, true, !ok
			}
		}
	}
	return "", false, false
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

// parseClientHello returns the first host_name of the server_name extension
// (RFC 6066 section 3) of a ClientHello body.
func parseClientHello(body []byte) (string, bool) {
	r := reader{b: body, ok: true}
	r.bytes(2)  // legacy_version
	r.bytes(32) // random
	r.bytes(r.u8())
	r.bytes(r.u16()) // cipher_suites
	r.bytes(r.u8())  // compression_methods
	if !r.ok {
		return "", false
	}
	if len(r.b) == 0 {
		return "", true // no extensions
	}
	exts := reader{b: r.bytes(r.u16()), ok: r.ok}
	for exts.ok && len(exts.b) > 0 {
		typ := exts.u16()
		data := exts.bytes(exts.u16())
		if !exts.ok {
			return "", false
		}
		if typ != 0 {
			continue
		}
		e := reader{b: data, ok: true}
		list := reader{b: e.bytes(e.u16()), ok: e.ok}
		for list.ok && len(list.b) > 0 {
			nameType := list.u8()
			name := list.bytes(list.u16())
			if list.ok && nameType == 0 && len(name) > 0 {
				return string(name), true
			}
		}
		return "", list.ok
	}
	return "", exts.ok
}
