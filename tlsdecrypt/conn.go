package tlsdecrypt

import (
	"bytes"
	"encoding/binary"
	"time"
)

// Span says which frame carried a run of consecutive stream bytes (the shape
// of capture.Span and httpparse.Span; callers convert).
type Span struct {
	Len   int
	Frame uint64
	Time  time.Time
}

// Handler receives the application data of each decrypted record. dir is the
// side (0 or 1, as the caller oriented the connection) that sent it; frame and
// t are those of the packet that carried the record's last byte. data is only
// valid during the call.
type Handler interface {
	Plaintext(dir int, data []byte, frame uint64, t time.Time)
}

// Stats counts what Conns did, per connection unless said otherwise. Not safe
// for concurrent use: give each goroutine its own and merge with Add.
type Stats struct {
	Conns        uint64 // connections whose ClientHello was seen
	Decrypted    uint64 // connections with at least one record decrypted
	NoKeys       uint64 // ClientHello seen, but the key log has no secrets for its client random
	NoHello      uint64 // TLS seen without its ClientHello (capture started mid-connection): cannot be matched to keys
	Unsupported  uint64 // version or cipher suite this package does not decrypt
	AuthFailures uint64 // decryption stopped: a record failed authentication (wrong keys, corruption)
	Gaps         uint64 // directions whose decryption a gap in the TCP stream ended
	Overruns     uint64 // connections stopped because records waiting for the handshake exceeded the buffer bound
	BadRecords   uint64 // connections stopped by a malformed record header or handshake message
	Records      uint64 // records decrypted (all connections)
	KeyUpdates   uint64 // TLS 1.3 KeyUpdate messages followed (all connections)
}

// Add adds o's counts to s.
func (s *Stats) Add(o *Stats) {
	s.Conns += o.Conns
	s.Decrypted += o.Decrypted
	s.NoKeys += o.NoKeys
	s.NoHello += o.NoHello
	s.Unsupported += o.Unsupported
	s.AuthFailures += o.AuthFailures
	s.Gaps += o.Gaps
	s.Overruns += o.Overruns
	s.BadRecords += o.BadRecords
	s.Records += o.Records
	s.KeyUpdates += o.KeyUpdates
}

const (
	maxRecord     = 1<<14 + 2048 // TLSCiphertext bound (RFC 5246 6.2.3)
	maxWaiting    = 256 << 10    // bytes a direction may hold while the other side's handshake is awaited
	maxHandshake  = 64 << 10     // a handshake message we parse (hellos, EncryptedExtensions)
	recCCS        = 20
	recAlert      = 21
	recHandshake  = 22
	recAppData    = 23
	hsClientHello = 1
	hsServerHello = 2
	hsEncExt      = 8
	hsFinished    = 20
	hsKeyUpdate   = 24
)

// helloRetryRandom marks a HelloRetryRequest (RFC 8446 4.1.3).
var helloRetryRandom = [32]byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

// phase is where a connection's decryption is.
type phase uint8

const (
	phHello phase = iota // reading plaintext hellos
	phKeys               // version, suite and secrets known: decrypting
	phOff                // not TLS, no keys, unsupported or stopped: bytes are dropped
)

// mark maps stream offsets to frames: bytes before end came from frame.
type mark struct {
	end   int64
	frame uint64
	time  time.Time
}

type side struct {
	buf       []byte
	consumed  int64 // stream offset of buf[0]
	marks     []mark
	keys      dirKeys
	encrypted bool   // records from now on are protected
	app       bool   // TLS 1.3: application traffic keys in use
	hs        []byte // handshake bytes not yet parsed (bounded)
	hsSkip    int    // bytes of a handshake message being skipped
	stopped   bool
	seen      bool
}

// Conn decrypts one TCP connection's TLS, push-style like httpparse.Conn.
// It never blocks, starts no goroutine and is not safe for concurrent use.
// Memory: per direction one record (about 18 KiB) plus, until the handshake
// is read, up to 256 KiB waiting for the other direction.
type Conn struct {
	keys    *KeyLog
	h       Handler
	st      *Stats
	side    [2]side
	phase   phase
	client  int // side that sent the ClientHello, -1 until seen
	cr, sr  [32]byte
	version uint16 // negotiated
	suite   suite
	sec     *secrets
	alpn    string // server's choice (ServerHello in 1.2, EncryptedExtensions in 1.3)
	sni     string
	counted bool // Decrypted counted
	pt      []byte
}

// NewConn returns a decryptor for one connection. keys may be nil (every TLS
// connection is then counted without keys); st may be nil.
func NewConn(keys *KeyLog, h Handler, st *Stats) *Conn {
	if st == nil {
		st = &Stats{}
	}
	return &Conn{keys: keys, h: h, st: st, client: -1}
}

// Client returns the side that sent the ClientHello, or -1.
func (c *Conn) Client() int { return c.client }

// ALPN returns the application protocol the server chose ("h2",
// "http/1.1"), or "" if none was seen (yet).
func (c *Conn) ALPN() string { return c.alpn }

// Version returns the negotiated TLS version (0x0304 for TLS 1.3), 0 until known.
func (c *Conn) Version() uint16 { return c.version }

// SNI returns the ClientHello's server name, or "".
func (c *Conn) SNI() string { return c.sni }

// Decrypted reports whether at least one record was decrypted.
func (c *Conn) Decrypted() bool { return c.counted }

// Active reports whether the connection is still being followed: false once
// it proved not to be TLS, had no keys, or decryption stopped.
func (c *Conn) Active() bool { return c.phase != phOff }

// stop ends decryption of the whole connection and releases its buffers.
func (c *Conn) stop() {
	c.phase = phOff
	for i := range c.side {
		c.side[i] = side{stopped: true}
	}
	c.pt = nil
}

// Data consumes in-order bytes sent by side dir (0 or 1) with the spans of
// the frames that carried them. data is only valid during the call.
func (c *Conn) Data(dir int, data []byte, spans []Span) {
	if c.phase == phOff || dir > 1 || dir < 0 || len(data) == 0 {
		return
	}
	s := &c.side[dir]
	if s.stopped {
		return
	}
	if !s.seen {
		s.seen = true
		if !c.side[1-dir].seen { // the connection's first bytes decide
			if !plausibleHeader(data[0], data[1:]) {
				c.phase = phOff // not TLS: nothing counted
				return
			}
			if data[0] != recHandshake {
				c.st.NoHello++ // mid-connection: no hello to match keys with
				c.stop()
				return
			}
		}
	}
	end := s.consumed + int64(len(s.buf))
	for _, sp := range spans {
		end += int64(sp.Len)
		s.marks = append(s.marks, mark{end: end, frame: sp.Frame, time: sp.Time})
	}
	if total := s.consumed + int64(len(s.buf)+len(data)); len(s.marks) > 0 && s.marks[len(s.marks)-1].end < total {
		s.marks[len(s.marks)-1].end = total // bytes past the last span belong to it
	}
	if len(s.buf)+len(data) > maxWaiting+maxRecord+5 {
		c.st.Overruns++
		c.stop()
		return
	}
	s.buf = append(s.buf, data...)
	c.process(dir)
	c.process(1 - dir) // records waiting for this side's handshake
}

// Gap says bytes were lost on side dir: that direction's decryption ends
// (record boundaries and sequence numbers are lost), counted once.
func (c *Conn) Gap(dir int) {
	if dir > 1 || dir < 0 || c.phase == phOff || c.side[dir].stopped {
		return
	}
	s := &c.side[dir]
	if c.phase == phKeys || c.client >= 0 {
		c.st.Gaps++
	} else if !s.seen && !c.side[1-dir].seen {
		c.phase = phOff // nothing seen yet: nothing to follow
		return
	}
	*s = side{stopped: true}
	if c.side[1-dir].stopped {
		c.stop()
	}
}

// Close releases the connection's state.
func (c *Conn) Close() {
	if c.phase == phHello {
		switch {
		case c.client < 0 && (c.side[0].seen || c.side[1].seen):
			c.st.NoHello++ // the ClientHello was not captured
		case c.client >= 0 && c.keys.lookup(c.cr) == nil:
			c.st.NoKeys++ // ServerHello never seen, and no keys anyway
		}
	}
	c.stop()
}

func plausibleHeader(typ byte, rest []byte) bool {
	if typ < recCCS || typ > recAppData {
		return false
	}
	if len(rest) > 0 && rest[0] != 3 {
		return false
	}
	return true
}

// frameAt returns the frame and time of the byte at stream offset off.
func (s *side) frameAt(off int64) (uint64, time.Time) {
	for len(s.marks) > 1 && s.marks[0].end <= off {
		s.marks = s.marks[1:]
	}
	if len(s.marks) == 0 {
		return 0, time.Time{}
	}
	return s.marks[0].frame, s.marks[0].time
}

// process handles the complete records buffered on side dir as far as what is
// known allows.
func (c *Conn) process(dir int) {
	s := &c.side[dir]
	off := 0
	for c.phase != phOff && !s.stopped && len(s.buf)-off >= 5 {
		b := s.buf[off:]
		typ, n := b[0], int(binary.BigEndian.Uint16(b[3:5]))
		if !plausibleHeader(typ, b[1:3]) || n == 0 || n > maxRecord {
			c.st.BadRecords++
			c.stop()
			return
		}
		if len(b) < 5+n {
			break
		}
		if !c.ready(dir, typ) {
			break
		}
		frame, t := s.frameAt(s.consumed + int64(off+5+n-1))
		off += 5 + n
		c.record(dir, b[:5+n], frame, t)
	}
	if c.phase == phOff || s.stopped {
		return
	}
	if off > 0 {
		s.consumed += int64(off)
		s.buf = s.buf[:copy(s.buf, s.buf[off:])]
		if cap(s.buf) > 4*maxRecord && len(s.buf) < maxRecord {
			s.buf = append([]byte(nil), s.buf...)
		}
	}
}

// ready says whether a record of type typ on side dir can be handled now:
// protected records (and TLS 1.2 ChangeCipherSpec) wait for the ServerHello.
func (c *Conn) ready(dir int, typ byte) bool {
	if c.phase == phKeys {
		return true
	}
	return typ == recHandshake && !c.side[dir].encrypted || typ == recAlert
}

// record handles one complete record of side dir.
func (c *Conn) record(dir int, rec []byte, frame uint64, t time.Time) {
	s := &c.side[dir]
	typ := rec[0]
	if !s.encrypted {
		switch typ {
		case recHandshake:
			c.handshake(dir, rec[5:], frame, t)
			return
		case recCCS:
			if c.version != 0x0304 {
				s.encrypted, s.keys.seq = true, 0 // TLS 1.2: the next record is protected
			}
			return
		case recAlert:
			return
		case recAppData:
			if c.version != 0x0304 {
				c.st.BadRecords++ // TLS 1.2 application data before ChangeCipherSpec
				c.stop()
				return
			}
			s.encrypted = true // TLS 1.3: the first protected record
		}
	}
	if c.version == 0x0304 && typ != recAppData {
		return // TLS 1.3 compatibility ChangeCipherSpec, or a plaintext alert
	}
	inner, pt, ok := c.open(dir, rec)
	if !ok {
		c.st.AuthFailures++
		c.stop()
		return
	}
	c.st.Records++
	if !c.counted {
		c.counted = true
		c.st.Decrypted++
	}
	switch inner {
	case recAppData:
		if c.h != nil && len(pt) > 0 {
			c.h.Plaintext(dir, pt, frame, t)
		}
	case recHandshake:
		c.handshake(dir, pt, frame, t)
	}
}

// open authenticates and decrypts a protected record; it returns the inner
// content type and the plaintext (valid until the next call).
func (c *Conn) open(dir int, rec []byte) (byte, []byte, bool) {
	s := &c.side[dir]
	if c.version == 0x0304 {
		inner, pt, ok := c.open13(&s.keys, rec)
		if !ok && !s.app && c.sec != nil {
			// Handshake keys failed: the handshake may have been cut or the
			// key log may hold only application secrets. Try those once.
			if c.switchApp(dir) {
				inner, pt, ok = c.open13(&s.keys, rec)
			}
		}
		return inner, pt, ok
	}
	return c.open12(&s.keys, rec)
}

func (c *Conn) open13(k *dirKeys, rec []byte) (byte, []byte, bool) {
	if k.aead == nil || len(rec) < 5+k.aead.Overhead() {
		return 0, nil, false
	}
	var nonce [12]byte
	copy(nonce[:], k.iv)
	var sq [8]byte
	binary.BigEndian.PutUint64(sq[:], k.seq)
	for i := range sq {
		nonce[4+i] ^= sq[i]
	}
	pt, err := k.aead.Open(c.pt[:0], nonce[:], rec[5:], rec[:5])
	if err != nil {
		return 0, nil, false
	}
	c.pt = pt[:0]
	k.seq++
	i := len(pt) - 1
	for i >= 0 && pt[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, nil, false // no content type: a protocol violation
	}
	return pt[i], pt[:i], true
}

func (c *Conn) open12(k *dirKeys, rec []byte) (byte, []byte, bool) {
	if k.aead == nil {
		return 0, nil, false
	}
	var nonce [12]byte
	body := rec[5:]
	var sq [8]byte
	binary.BigEndian.PutUint64(sq[:], k.seq)
	if c.suite.chacha {
		copy(nonce[:], k.iv)
		for i := range sq {
			nonce[4+i] ^= sq[i]
		}
	} else {
		if len(body) < 8 {
			return 0, nil, false
		}
		copy(nonce[:4], k.iv)
		copy(nonce[4:], body[:8])
		body = body[8:]
	}
	if len(body) < k.aead.Overhead() {
		return 0, nil, false
	}
	var aad [13]byte
	copy(aad[:8], sq[:])
	aad[8], aad[9], aad[10] = rec[0], rec[1], rec[2]
	binary.BigEndian.PutUint16(aad[11:], uint16(len(body)-k.aead.Overhead()))
	pt, err := k.aead.Open(c.pt[:0], nonce[:], body, aad[:])
	if err != nil {
		return 0, nil, false
	}
	c.pt = pt[:0]
	k.seq++
	return rec[0], pt, true
}

// handshake feeds handshake bytes (plaintext or decrypted) of side dir and
// acts on the messages that matter; others are skipped without buffering.
func (c *Conn) handshake(dir int, b []byte, frame uint64, t time.Time) {
	s := &c.side[dir]
	for len(b) > 0 && c.phase != phOff && !s.stopped {
		if s.hsSkip > 0 {
			n := min(s.hsSkip, len(b))
			s.hsSkip -= n
			b = b[n:]
			continue
		}
		if len(s.hs) < 4 {
			n := min(4-len(s.hs), len(b))
			s.hs = append(s.hs, b[:n]...)
			b = b[n:]
			if len(s.hs) < 4 {
				return
			}
			l := hsLen(s.hs)
			if !wanted(s.hs[0]) {
				s.hs, s.hsSkip = s.hs[:0], l // not needed: skip its body
				continue
			}
			if l > maxHandshake {
				c.bad()
				return
			}
		}
		need := 4 + hsLen(s.hs) - len(s.hs)
		n := min(need, len(b))
		s.hs = append(s.hs, b[:n]...)
		b = b[n:]
		if n < need {
			return
		}
		c.message(dir, s.hs[0], s.hs[4:])
		if c.phase == phOff || s.stopped {
			return
		}
		s.hs = s.hs[:0]
	}
}

func hsLen(h []byte) int { return int(h[1])<<16 | int(h[2])<<8 | int(h[3]) }

func wanted(typ byte) bool {
	switch typ {
	case hsClientHello, hsServerHello, hsEncExt, hsFinished, hsKeyUpdate:
		return true
	}
	return false
}

// message acts on one complete handshake message of side dir.
func (c *Conn) message(dir int, typ byte, body []byte) {
	s := &c.side[dir]
	switch typ {
	case hsClientHello:
		if c.client >= 0 {
			return // the second ClientHello after a HelloRetryRequest keeps the random
		}
		if len(body) < 34 {
			c.bad()
			return
		}
		c.client = dir
		copy(c.cr[:], body[2:34])
		c.st.Conns++
		c.sni = clientSNI(body)
	case hsServerHello:
		if dir == c.client || c.client < 0 || s.encrypted {
			return
		}
		c.serverHello(dir, body)
	case hsEncExt:
		if c.version == 0x0304 && dir != c.client {
			c.alpn = encExtALPN(body)
		}
	case hsFinished:
		if c.version == 0x0304 && s.encrypted && !s.app {
			c.switchApp(dir)
		}
	case hsKeyUpdate:
		if c.version == 0x0304 && s.app && s.keys.secret != nil {
			next := c.suite.nextSecret13(s.keys.secret)
			a, iv, err := c.suite.keys13(next)
			if err != nil {
				c.bad()
				return
			}
			s.keys = dirKeys{aead: a, iv: iv, secret: next}
			c.st.KeyUpdates++
		}
	}
}

func (c *Conn) bad() {
	c.st.BadRecords++
	c.stop()
}

// serverHello reads the version, random, suite and (TLS 1.2) ALPN, looks up
// the secrets and sets up the keys.
func (c *Conn) serverHello(dir int, body []byte) {
	r := reader{b: body, ok: true}
	version := uint16(r.u16())
	rnd := r.bytes(32)
	r.bytes(r.u8())
	id := uint16(r.u16())
	r.u8()
	if !r.ok {
		c.bad()
		return
	}
	if bytes.Equal(rnd, helloRetryRandom[:]) {
		return // HelloRetryRequest: the real ServerHello follows
	}
	alpn := ""
	if len(r.b) > 0 {
		exts := r.sub(r.u16())
		for exts.ok && len(exts.b) > 0 {
			et := exts.u16()
			e := exts.sub(exts.u16())
			switch et {
			case 43: // supported_versions
				if v := e.u16(); e.ok {
					version = uint16(v)
				}
			case 16: // ALPN
				l := e.sub(e.u16())
				if p := l.bytes(l.u8()); l.ok {
					alpn = string(p)
				}
			}
		}
		if !exts.ok {
			c.bad()
			return
		}
	}
	copy(c.sr[:], rnd)
	su, ok := suites[id]
	if !ok || (version == 0x0304) != su.tls13 || (version != 0x0304 && version != 0x0303) {
		c.st.Unsupported++
		c.stop()
		return
	}
	c.version, c.suite, c.alpn = version, su, alpn
	sec := c.keys.lookup(c.cr)
	if sec == nil || (su.tls13 && sec.serverHS == nil && sec.serverApp0 == nil) || (!su.tls13 && sec.master == nil) {
		c.st.NoKeys++
		c.stop()
		return
	}
	c.sec = sec
	cl, sv := &c.side[c.client], &c.side[1-c.client]
	if su.tls13 {
		var err error
		if sec.clientHS != nil {
			cl.keys.aead, cl.keys.iv, err = su.keys13(sec.clientHS)
		}
		if err == nil && sec.serverHS != nil {
			sv.keys.aead, sv.keys.iv, err = su.keys13(sec.serverHS)
		}
		if err != nil {
			c.bad()
			return
		}
		sv.encrypted = true // everything after the ServerHello is protected
	} else {
		ck, sk, err := su.keys12(sec.master, c.cr, c.sr)
		if err != nil {
			c.bad()
			return
		}
		cl.keys, sv.keys = ck, sk
	}
	c.phase = phKeys
}

// switchApp moves side dir to its first application traffic secret.
func (c *Conn) switchApp(dir int) bool {
	s := &c.side[dir]
	secret := c.sec.serverApp0
	if dir == c.client {
		secret = c.sec.clientApp0
	}
	if secret == nil {
		return false
	}
	a, iv, err := c.suite.keys13(secret)
	if err != nil {
		return false
	}
	s.keys = dirKeys{aead: a, iv: iv, secret: secret}
	s.app = true
	return true
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
	if v := r.bytes(1); v != nil {
		return int(v[0])
	}
	return 0
}

func (r *reader) u16() int {
	if v := r.bytes(2); v != nil {
		return int(v[0])<<8 | int(v[1])
	}
	return 0
}

func (r *reader) sub(n int) reader { return reader{b: r.bytes(n), ok: r.ok} }

// encExtALPN returns the protocol an EncryptedExtensions message chose.
func encExtALPN(body []byte) string {
	r := reader{b: body, ok: true}
	exts := r.sub(r.u16())
	for exts.ok && len(exts.b) > 0 {
		et := exts.u16()
		e := exts.sub(exts.u16())
		if et == 16 {
			l := e.sub(e.u16())
			if p := l.bytes(l.u8()); l.ok {
				return string(p)
			}
		}
	}
	return ""
}

// clientSNI returns a ClientHello's first host_name, or "".
func clientSNI(body []byte) string {
	r := reader{b: body, ok: true}
	r.bytes(34)
	r.bytes(r.u8())
	r.bytes(r.u16())
	r.bytes(r.u8())
	exts := r.sub(r.u16())
	for exts.ok && len(exts.b) > 0 {
		et := exts.u16()
		e := exts.sub(exts.u16())
		if et == 0 {
			l := e.sub(e.u16())
			if l.u8() == 0 {
				if n := l.bytes(l.u16()); l.ok {
					return string(n)
				}
			}
		}
	}
	return ""
}
