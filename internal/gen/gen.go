// Package gen writes large, realistic and deterministic HTTP captures for
// benchmarks, streaming them to disk: thousands of interleaved TCP
// connections over IPv4 and IPv6, keep-alive and pipelining, bodies from
// empty to hundreds of KB (Content-Length, chunked, gzip-looking bytes,
// connection close), HEAD, 304, 204, 100-continue, Set-Cookie and Cookie
// headers of every attribute mix, non-standard ports and TLS connections on
// 443. With Faults it also reorders, retransmits and loses segments and
// starts some connections mid-stream.
//
// Alongside the pcap it writes a ground truth: one line per cookie header
// (Set-Cookie or Cookie) whose header block ends in a captured segment:
//
//	frame<TAB>kind<TAB>intact<TAB>value
//
// frame is the 1-based frame carrying the first copy of the header block's
// last byte (where Wireshark shows the message with body reassembly off),
// kind is "set-cookie" or "cookie", intact is 1 when every segment of the
// header block was captured, and value is the header's value as sent.
//
// The same Config gives the same bytes: all randomness comes from a PCG
// seeded with Config.Seed, and the clock is simulated.
package gen

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Config says what to generate.
type Config struct {
	Seed   uint64
	Bytes  int64 // stop opening connections once the capture is this large
	Conns  int   // connections open at once (default 1000)
	Faults bool  // loss, reordering, retransmission, mid-stream starts
}

// Result counts what was written.
type Result struct {
	Packets, Bytes int64
	Conns          int // TCP connections (TLS ones included)
	TLSConns       int
	Messages       int // HTTP messages (requests and responses, 1xx included)
	Headers        int // ground-truth lines (cookie headers with a captured end)
	Intact         int // of those, with every segment of their header block captured
	Lost           int // segments lost (Faults)
}

// Start is the capture time of the first packet.
var Start = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	snaplen = 262144
	mtu     = 1500
	tcpHdr  = 32 // with the timestamp option, as Linux sends
)

// Generate writes a microsecond pcap (Ethernet) to w and the ground truth to
// truth.
func Generate(cfg Config, w, truth io.Writer) (Result, error) {
	if cfg.Conns <= 0 {
		cfg.Conns = 1000
	}
	g := &gen{
		cfg: cfg,
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		w:   bufio.NewWriterSize(w, 1<<20),
		tw:  bufio.NewWriterSize(truth, 1<<16),
		now: Start.UnixNano(),
		pkt: make([]byte, 0, 16+14+40+tcpHdr+mtu),
	}
	g.pools()
	if err := g.header(); err != nil {
		return g.res, err
	}
	for len(g.active) < cfg.Conns {
		g.active = append(g.active, g.newConn())
	}
	for len(g.active) > 0 {
		i := g.rng.IntN(len(g.active))
		c := g.active[i]
		if !c.step(g) {
			if g.res.Bytes < cfg.Bytes {
				g.active[i] = g.newConn()
			} else {
				last := len(g.active) - 1
				g.active[i] = g.active[last]
				g.active = g.active[:last]
			}
		}
		if g.err != nil {
			return g.res, g.err
		}
	}
	if err := g.w.Flush(); err != nil {
		return g.res, err
	}
	return g.res, g.tw.Flush()
}

type gen struct {
	cfg     Config
	rng     *rand.Rand
	w, tw   *bufio.Writer
	err     error
	now     int64 // ns
	frame   uint64
	ipID    uint16
	pkt     []byte
	active  []*conn
	busy    map[[2]netip.AddrPort]bool
	res     Result
	text    []byte // html-ish body pool
	bin     []byte // incompressible body pool
	hosts   []string
	clients []netip.Addr
}

func (g *gen) header() error {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], snaplen)
	binary.LittleEndian.PutUint32(h[20:], 1) // Ethernet
	_, err := g.w.Write(h[:])
	g.res.Bytes += 24
	return err
}

var words = strings.Fields(`lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor
incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris
nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat
nulla pariatur excepteur sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est`)

func (g *gen) pools() {
	var b strings.Builder
	for b.Len() < 1<<20 {
		b.WriteString(`<div class="item"><p>`)
		for k := 0; k < 12; k++ {
			b.WriteString(words[g.rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		b.WriteString("</p></div>\n")
	}
	g.text = []byte(b.String())
	g.bin = make([]byte, 1<<20)
	for i := 0; i+8 <= len(g.bin); i += 8 {
		binary.LittleEndian.PutUint64(g.bin[i:], g.rng.Uint64())
	}
	for i := 0; i < 300; i++ {
		tld := []string{"com", "net", "org", "example", "test"}[i%5]
		g.hosts = append(g.hosts, fmt.Sprintf("%s%d.shop%d.%s", []string{"www", "api", "cdn", "m", "login"}[i%5], i, i%37, tld))
	}
	for i := 0; i < 2000; i++ {
		if i%5 == 4 {
			var a [16]byte
			a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
			binary.BigEndian.PutUint64(a[8:], g.rng.Uint64())
			g.clients = append(g.clients, netip.AddrFrom16(a))
		} else {
			g.clients = append(g.clients, netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), byte(1 + i%250)}))
		}
	}
	g.busy = map[[2]netip.AddrPort]bool{}
}

func (g *gen) body(n int, binary bool) []byte {
	pool := g.text
	if binary {
		pool = g.bin
	}
	out := make([]byte, 0, n)
	for len(out) < n {
		off := g.rng.IntN(len(pool) - 1)
		k := min(n-len(out), len(pool)-off)
		out = append(out, pool[off:off+k]...)
	}
	return out
}

// bodySize draws a body length: many empty or small, a long tail to 500 KB.
func (g *gen) bodySize() int {
	switch r := g.rng.IntN(100); {
	case r < 20:
		return 0
	case r < 45:
		return 1 + g.rng.IntN(2048)
	case r < 80:
		return 2048 + g.rng.IntN(30<<10)
	case r < 96:
		return 32<<10 + g.rng.IntN(96<<10)
	default:
		return 128<<10 + g.rng.IntN(384<<10)
	}
}

// ---- packets ----

// seg is one packet of a connection waiting to be written.
type seg struct {
	side    int // 0 client, 1 server
	seq     uint32
	flags   byte
	payload []byte
	marks   []mark // cookie headers whose block ends in this segment (first copy only)
	lost    bool   // never written (its marks are never emitted)
}

// mark is a ground-truth line waiting for its frame number.
type mark struct {
	kind, value string
	intact      bool
}

const (
	flFIN = 0x01
	flSYN = 0x02
	flRST = 0x04
	flPSH = 0x08
	flACK = 0x10
)

func (g *gen) write(c *conn, s *seg) {
	if g.err != nil {
		return
	}
	src, dst := c.addr[s.side], c.addr[1-s.side]
	p := g.pkt[:16]
	// Ethernet
	p = append(p, 0x02, 0, 0, 0, 0, byte(1+s.side), 0x02, 0, 0, 0, 0, byte(2-s.side))
	v6 := src.Addr().Is6()
	if v6 {
		p = append(p, 0x86, 0xdd)
	} else {
		p = append(p, 0x08, 0x00)
	}
	ipOff := len(p)
	tcpLen := tcpHdr + len(s.payload)
	if v6 {
		p = append(p, 0x60, 0, 0, 0, byte(tcpLen>>8), byte(tcpLen), 6, 64)
		a, b := src.Addr().As16(), dst.Addr().As16()
		p = append(p, a[:]...)
		p = append(p, b[:]...)
	} else {
		g.ipID++
		tot := 20 + tcpLen
		p = append(p, 0x45, 0, byte(tot>>8), byte(tot), byte(g.ipID>>8), byte(g.ipID), 0x40, 0, 64, 6, 0, 0)
		a, b := src.Addr().As4(), dst.Addr().As4()
		p = append(p, a[:]...)
		p = append(p, b[:]...)
		binary.BigEndian.PutUint16(p[ipOff+10:], ^fold(sum(p[ipOff:ipOff+20], 0)))
	}
	tcpOff := len(p)
	var ack uint32
	if s.flags&flACK != 0 {
		ack = c.next[1-s.side]
	}
	ts := uint32(g.now / 1e6)
	p = append(p, byte(src.Port()>>8), byte(src.Port()), byte(dst.Port()>>8), byte(dst.Port()),
		byte(s.seq>>24), byte(s.seq>>16), byte(s.seq>>8), byte(s.seq),
		byte(ack>>24), byte(ack>>16), byte(ack>>8), byte(ack),
		tcpHdr/4<<4, s.flags, 0xfa, 0xf0, 0, 0, 0, 0,
		1, 1, 8, 10, byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts), 0, 0, 0, 0)
	p = append(p, s.payload...)
	// TCP checksum over the pseudo-header
	var ps uint32
	if v6 {
		ps = sum(p[ipOff+8:ipOff+40], 0)
	} else {
		ps = sum(p[ipOff+12:ipOff+20], 0)
	}
	ps += 6 + uint32(tcpLen)
	binary.BigEndian.PutUint16(p[tcpOff+16:], ^fold(sum(p[tcpOff:], ps)))

	n := len(p) - 16
	sec, usec := g.now/1e9, (g.now%1e9)/1e3
	binary.LittleEndian.PutUint32(p[0:], uint32(sec))
	binary.LittleEndian.PutUint32(p[4:], uint32(usec))
	binary.LittleEndian.PutUint32(p[8:], uint32(n))
	binary.LittleEndian.PutUint32(p[12:], uint32(n))
	if _, err := g.w.Write(p); err != nil {
		g.err = err
		return
	}
	g.pkt = p[:0]
	g.frame++
	g.res.Packets++
	g.res.Bytes += int64(len(p))
	g.now += int64(g.rng.IntN(400_000)) // 0–400 µs between packets
	for _, m := range s.marks {
		in := 0
		if m.intact {
			in = 1
			g.res.Intact++
		}
		g.res.Headers++
		if _, err := fmt.Fprintf(g.tw, "%d\t%s\t%d\t%s\n", g.frame, m.kind, in, m.value); err != nil {
			g.err = err
		}
	}
}

func sum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// ---- connections ----

type conn struct {
	addr      [2]netip.AddrPort // client, server
	next      [2]uint32         // next sequence number per side
	mss       int
	queue     []seg
	exchanges int  // HTTP exchanges (or TLS round trips) still to script
	tls       bool // a TLS connection on 443
	hello     bool // its ClientHello was sent
	pipeline  bool
	midstream bool // capture starts inside the first exchange
	closing   bool // the last response is delimited by the connection's close
	done      bool
	sinceAck  [2]int
	host      string
	cookies   []string // cookie pairs the client sends back
}

func (g *gen) newConn() *conn {
	c := &conn{}
	g.res.Conns++
	for {
		cli := g.clients[g.rng.IntN(len(g.clients))]
		var srv netip.Addr
		if cli.Is6() {
			var a [16]byte
			a[0], a[1], a[2], a[3], a[15] = 0x20, 0x01, 0x0d, 0xb8, byte(1+g.rng.IntN(200))
			a[7] = 0xff
			srv = netip.AddrFrom16(a)
		} else {
			srv = netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + g.rng.IntN(250))})
		}
		port := uint16(443)
		c.tls = g.rng.IntN(100) < 15
		if !c.tls {
			port = []uint16{80, 80, 80, 80, 80, 8080, 8000, 3128, 8888, 9000, 5000, 81}[g.rng.IntN(12)]
		}
		c.addr = [2]netip.AddrPort{netip.AddrPortFrom(cli, uint16(1024+g.rng.IntN(64000))), netip.AddrPortFrom(srv, port)}
		if !g.busy[c.addr] {
			break
		}
	}
	g.busy[c.addr] = true
	c.mss = mtu - 20 - tcpHdr
	if c.addr[0].Addr().Is6() {
		c.mss = mtu - 40 - tcpHdr
	}
	c.next = [2]uint32{g.rng.Uint32(), g.rng.Uint32()}
	c.host = g.hosts[g.rng.IntN(len(g.hosts))]
	c.exchanges = 1 + g.rng.IntN(3)
	if g.rng.IntN(100) < 60 {
		c.exchanges += g.rng.IntN(12) // keep-alive
	}
	c.pipeline = !c.tls && g.rng.IntN(100) < 15
	if g.cfg.Faults && g.rng.IntN(100) < 4 {
		c.midstream = true
	}
	if c.tls {
		g.res.TLSConns++
	}
	if !c.midstream {
		c.ctl(0, flSYN)
		c.ctl(1, flSYN|flACK)
		c.ctl(0, flACK)
	}
	return c
}

// ctl queues a segment without payload.
func (c *conn) ctl(side int, flags byte) {
	c.queue = append(c.queue, seg{side: side, seq: c.next[side], flags: flags})
	if flags&(flSYN|flFIN) != 0 {
		c.next[side]++
	}
}

// step writes the connection's next packet, scripting more when its queue
// is empty; false when the connection is finished.
func (c *conn) step(g *gen) bool {
	for len(c.queue) == 0 {
		if c.done {
			delete(g.busy, c.addr)
			return false
		}
		c.script(g)
	}
	s := c.queue[0]
	c.queue = c.queue[1:]
	if !s.lost {
		g.write(c, &s)
	}
	return true
}

// message is one send: its bytes, and the header blocks inside them.
type message struct {
	data   []byte
	blocks []block
}

type block struct {
	start, end int // the header block's bytes: [start, end)
	marks      []mark
}

func (m *message) head(lines []string, cookieKinds map[int]string) {
	b := block{start: len(m.data)}
	for i, l := range lines {
		m.data = append(m.data, l...)
		m.data = append(m.data, '\r', '\n')
		if k, ok := cookieKinds[i]; ok {
			_, v, _ := strings.Cut(l, ":")
			b.marks = append(b.marks, mark{kind: k, value: strings.TrimSpace(v)})
		}
	}
	m.data = append(m.data, '\r', '\n')
	b.end = len(m.data)
	m.blocks = append(m.blocks, b)
}

// send cuts data into segments of side, with faults, and queues them; every
// two data segments the receiver acknowledges. skip drops (does not
// capture) the first skip bytes' segments: a capture starting mid-stream.
func (c *conn) send(g *gen, side int, m *message, skip int) {
	first := len(c.queue)
	base := c.next[side]
	for off := 0; off < len(m.data); off += c.mss {
		end := min(off+c.mss, len(m.data))
		s := seg{side: side, seq: base + uint32(off), flags: flACK, payload: m.data[off:end]}
		if end == len(m.data) {
			s.flags |= flPSH
		}
		if off < skip {
			s.lost = true
		} else if g.cfg.Faults && g.rng.IntN(1000) < 3 {
			s.lost = true
			g.res.Lost++
		}
		c.queue = append(c.queue, s)
	}
	c.next[side] += uint32(len(m.data))
	segs := c.queue[first:]
	// Ground truth: the block's marks go to the segment with its last byte.
	for _, b := range m.blocks {
		if len(b.marks) == 0 {
			continue
		}
		intact := true
		for k := b.start / c.mss; k <= (b.end-1)/c.mss; k++ {
			intact = intact && !segs[k].lost
		}
		last := &segs[(b.end-1)/c.mss]
		for _, mk := range b.marks {
			mk.intact = intact
			last.marks = append(last.marks, mk)
		}
	}
	if g.cfg.Faults {
		for k := 0; k+1 < len(segs); k++ {
			switch r := g.rng.IntN(1000); {
			case r < 5: // reorder: k+1 overtakes k
				segs[k], segs[k+1] = segs[k+1], segs[k]
				k++
			case r < 10 && !segs[k].lost: // retransmit k after k+1
				dup := segs[k]
				dup.marks = nil
				c.queue = append(c.queue, seg{})
				copy(c.queue[first+k+2:], c.queue[first+k+1:])
				c.queue[first+k+2] = dup
				segs = c.queue[first:]
				k += 2
			}
		}
	}
	// interleave the receiver's ACKs
	if n := len(c.queue) - first; n > 1 {
		out := make([]seg, 0, n+n/2+1)
		out = append(out, c.queue[:first]...)
		for _, s := range c.queue[first:] {
			out = append(out, s)
			if c.sinceAck[side]++; c.sinceAck[side] == 2 {
				c.sinceAck[side] = 0
				out = append(out, seg{side: 1 - side, seq: c.next[1-side], flags: flACK, lost: s.lost && skip > 0})
			}
		}
		c.queue = out
	}
}

// script queues the connection's next round: an exchange (or a pipelined
// group of them), a TLS round trip, or the close.
func (c *conn) script(g *gen) {
	if g.res.Bytes >= g.cfg.Bytes && !c.midstream {
		c.exchanges = 0 // big enough: wind down
	}
	if c.exchanges == 0 {
		c.close(g)
		return
	}
	if c.tls {
		c.tlsRound(g)
		return
	}
	n := 1
	if c.pipeline {
		n = min(c.exchanges, 2+g.rng.IntN(3))
	}
	c.exchanges -= n
	var reqs message
	var resps message
	var methods []string
	for i := 0; i < n; i++ {
		method := "GET"
		if !c.pipeline {
			switch r := g.rng.IntN(100); {
			case r < 15:
				method = "POST"
			case r < 23:
				method = "HEAD"
			case r < 27:
				method = []string{"PUT", "DELETE", "OPTIONS", "PATCH"}[g.rng.IntN(4)]
			}
		} else if g.rng.IntN(4) == 0 {
			method = "HEAD"
		}
		methods = append(methods, method)
		last := c.exchanges == 0 && i == n-1
		cont := c.request(g, &reqs, method, last)
		if cont != nil { // 100-continue: head, interim response, body, final response
			c.send(g, 0, &reqs, c.skip(g, &reqs))
			reqs = message{}
			var interim message
			g.res.Messages++
			interim.head([]string{"HTTP/1.1 100 Continue"}, nil)
			c.send(g, 1, &interim, 0)
			reqs.data = cont
		}
	}
	c.send(g, 0, &reqs, c.skip(g, &reqs))
	for i, method := range methods {
		last := c.exchanges == 0 && i == n-1
		c.response(g, &resps, method, last)
	}
	skip := 0
	if c.midstream {
		skip = 1 + g.rng.IntN(len(resps.data))
		c.midstream = false
	}
	c.send(g, 1, &resps, skip)
}

// skip is how much of a request a mid-stream connection does not capture.
func (c *conn) skip(g *gen, m *message) int {
	if c.midstream {
		return len(m.data)
	}
	return 0
}

var (
	sessionNames = []string{"PHPSESSID", "JSESSIONID", "sid", "session", "sessionid", "connect.sid",
		"laravel_session", "_shop_session", "ASP.NET_SessionId", "SESS8f3a9c0d"}
	otherNames = []string{"theme", "_ga", "_gid", "lang", "consent", "cart_id", "tz", "ab_test", "__cf_bm", "prefs"}
	paths      = []string{"/", "/index.html", "/login", "/account/settings", "/api/v1/items?page=2",
		"/static/app.js", "/img/logo.png", "/search?q=cookie+flags", "/cart/add", "/logout"}
	agents = []string{"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
		"curl/8.5.0", "python-requests/2.31.0"}
)

func (g *gen) token(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.rng.IntN(len(alphabet))]
	}
	return string(b)
}

func (g *gen) cookieName() string {
	if g.rng.IntN(2) == 0 {
		return sessionNames[g.rng.IntN(len(sessionNames))]
	}
	return otherNames[g.rng.IntN(len(otherNames))]
}

// request appends one request to m. For a POST with Expect: 100-continue it
// returns the body, to be sent after the interim response.
func (c *conn) request(g *gen, m *message, method string, last bool) []byte {
	g.res.Messages++
	path := paths[g.rng.IntN(len(paths))]
	lines := []string{method + " " + path + " HTTP/1.1", "Host: " + c.host,
		"User-Agent: " + agents[g.rng.IntN(len(agents))],
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"Accept-Language: en-US,en;q=0.5", "Accept-Encoding: gzip, deflate"}
	kinds := map[int]string{}
	if len(c.cookies) > 0 && g.rng.IntN(100) < 70 || g.rng.IntN(100) < 15 {
		pairs := append([]string(nil), c.cookies...)
		for k := g.rng.IntN(3); k > 0; k-- {
			pairs = append(pairs, g.cookieName()+"="+g.token(4+g.rng.IntN(40)))
		}
		if len(pairs) == 0 {
			pairs = append(pairs, g.cookieName()+"="+g.token(16))
		}
		name := []string{"Cookie", "Cookie", "Cookie", "cookie", "COOKIE"}[g.rng.IntN(5)]
		kinds[len(lines)] = "cookie"
		lines = append(lines, name+": "+strings.Join(pairs, "; "))
	}
	if g.rng.IntN(3) == 0 {
		lines = append(lines, "Referer: http://"+c.host+paths[g.rng.IntN(len(paths))])
	}
	if last && g.rng.IntN(2) == 0 {
		lines = append(lines, "Connection: close")
	} else {
		lines = append(lines, "Connection: keep-alive")
	}
	var body []byte
	var deferred bool
	if method == "POST" || method == "PUT" || method == "PATCH" {
		body = g.body(g.rng.IntN(8<<10), false)
		if g.rng.IntN(5) == 0 {
			lines = append(lines, "Transfer-Encoding: chunked")
			body = g.chunked(body)
		} else {
			lines = append(lines, "Content-Type: application/x-www-form-urlencoded", "Content-Length: "+strconv.Itoa(len(body)))
			deferred = method == "POST" && len(body) > 0 && g.rng.IntN(4) == 0
			if deferred {
				lines = append(lines, "Expect: 100-continue")
			}
		}
	}
	m.head(lines, kinds)
	if deferred {
		return body
	}
	m.data = append(m.data, body...)
	return nil
}

func (g *gen) chunked(body []byte) []byte {
	var out []byte
	for len(body) > 0 {
		n := min(len(body), 1+g.rng.IntN(16<<10))
		out = append(out, strconv.FormatInt(int64(n), 16)...)
		if g.rng.IntN(20) == 0 {
			out = append(out, ";ext=1"...)
		}
		out = append(out, '\r', '\n')
		out = append(out, body[:n]...)
		out = append(out, '\r', '\n')
		body = body[n:]
	}
	out = append(out, "0\r\n"...)
	if g.rng.IntN(10) == 0 {
		out = append(out, "X-Trailer: done\r\n"...)
	}
	return append(out, '\r', '\n')
}

var weekdays = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

func (g *gen) setCookie(c *conn) string {
	name := g.cookieName()
	value := g.token(8 + g.rng.IntN(48))
	if g.rng.IntN(3) > 0 && len(c.cookies) < 4 {
		c.cookies = append(c.cookies, name+"="+value)
	}
	attrs := []string{name + "=" + value}
	add := func(p int, s string) {
		if g.rng.IntN(100) < p {
			attrs = append(attrs, s)
		}
	}
	add(70, "Path=/")
	add(30, []string{"Domain=." + c.host, "Domain=" + c.host, "domain=" + c.host}[g.rng.IntN(3)])
	if g.rng.IntN(100) < 35 {
		t := Start.Add(time.Duration(g.rng.IntN(90*24)-24) * time.Hour)
		attrs = append(attrs, "Expires="+weekdays[t.Weekday()]+t.Format(", 02 Jan 2006 15:04:05 GMT"))
	}
	add(25, "Max-Age="+[]string{"0", "3600", "86400", "31536000", "-1"}[g.rng.IntN(5)])
	add(45, []string{"Secure", "secure", "SECURE"}[g.rng.IntN(3)])
	add(45, []string{"HttpOnly", "httponly"}[g.rng.IntN(2)])
	add(50, []string{"SameSite=Lax", "SameSite=Strict", "SameSite=None", "samesite=lax", "SameSite", "SameSite=bogus"}[g.rng.IntN(6)])
	add(5, "Partitioned")
	add(5, "Priority=High")
	for i := len(attrs) - 1; i > 1; i-- { // attribute order varies
		j := 1 + g.rng.IntN(i)
		attrs[i], attrs[j] = attrs[j], attrs[i]
	}
	return strings.Join(attrs, "; ")
}

// response appends the response to a request with method to m.
func (c *conn) response(g *gen, m *message, method string, last bool) {
	g.res.Messages++
	status, reason := 200, "OK"
	switch r := g.rng.IntN(100); {
	case method == "GET" && r < 10:
		status, reason = 304, "Not Modified"
	case r < 15:
		status, reason = 302, "Found"
	case r < 20:
		status, reason = 404, "Not Found"
	case r < 23:
		status, reason = 204, "No Content"
	case r < 25:
		status, reason = 500, "Internal Server Error"
	}
	lines := []string{"HTTP/1.1 " + strconv.Itoa(status) + " " + reason, "Server: nginx/1.24.0",
		"Date: " + time.Unix(0, g.now).UTC().Format(time.RFC1123)}
	kinds := map[int]string{}
	if g.rng.IntN(100) < 30 {
		for k := 1 + g.rng.IntN(3); k > 0; k-- {
			kinds[len(lines)] = "set-cookie"
			name := []string{"Set-Cookie", "Set-Cookie", "Set-Cookie", "set-cookie", "SET-COOKIE"}[g.rng.IntN(5)]
			lines = append(lines, name+": "+g.setCookie(c))
		}
	}
	noBody := method == "HEAD" || status == 304 || status == 204
	size := 0
	if status != 304 && status != 204 {
		size = g.bodySize()
	}
	bin := g.rng.IntN(3) == 0
	var body []byte
	if !noBody {
		body = g.body(size, bin)
	}
	if bin {
		lines = append(lines, "Content-Type: application/octet-stream", "Content-Encoding: gzip")
		if len(body) >= 3 {
			body[0], body[1], body[2] = 0x1f, 0x8b, 0x08
		}
	} else {
		lines = append(lines, "Content-Type: text/html; charset=utf-8")
	}
	if status == 302 {
		lines = append(lines, "Location: /login")
	}
	if status == 304 {
		lines = append(lines, `ETag: "`+g.token(12)+`"`)
	}
	switch r := g.rng.IntN(100); {
	case noBody:
		if method == "HEAD" {
			lines = append(lines, "Content-Length: "+strconv.Itoa(size))
		}
	case last && r < 15:
		lines = append(lines, "Connection: close") // body until the FIN
		c.closing = true
	case r < 45 && len(body) > 0:
		lines = append(lines, "Transfer-Encoding: chunked")
		body = g.chunked(body)
	default:
		lines = append(lines, "Content-Length: "+strconv.Itoa(len(body)))
	}
	lines = append(lines, "Cache-Control: private, max-age=0", "Vary: Accept-Encoding")
	m.head(lines, kinds)
	m.data = append(m.data, body...)
}

func (c *conn) close(g *gen) {
	c.done = true
	if g.rng.IntN(10) == 0 && !c.closing {
		c.ctl(0, flRST|flACK)
		return
	}
	if c.closing {
		c.ctl(1, flFIN|flACK)
		c.ctl(0, flFIN|flACK)
		c.ctl(1, flACK)
		return
	}
	c.ctl(0, flFIN|flACK)
	c.ctl(1, flFIN|flACK)
	c.ctl(0, flACK)
}

// tlsRound queues a ClientHello and the server's flight first, then
// application-data round trips.
func (c *conn) tlsRound(g *gen) {
	c.exchanges--
	var cli, srv message
	if !c.hello {
		c.hello = true
		sni := c.host
		ext := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint16(ext[2:], uint16(len(sni)+5))
		binary.BigEndian.PutUint16(ext[4:], uint16(len(sni)+3))
		binary.BigEndian.PutUint16(ext[7:], uint16(len(sni)))
		ext = append(ext, sni...)
		hello := []byte{0x03, 0x03}
		hello = append(hello, g.body(32, true)...)
		hello = append(hello, 0, 0, 2, 0x13, 0x01, 1, 0)
		hello = append(hello, byte(len(ext)>>8), byte(len(ext)))
		hello = append(hello, ext...)
		hs := append([]byte{1, 0, byte(len(hello) >> 8), byte(len(hello))}, hello...)
		cli.data = append([]byte{0x16, 0x03, 0x01, byte(len(hs) >> 8), byte(len(hs))}, hs...)
		srv.data = tlsRecords(g, 0x16, 2500+g.rng.IntN(2500))
	} else {
		cli.data = tlsRecords(g, 0x17, 100+g.rng.IntN(1500))
		srv.data = tlsRecords(g, 0x17, g.bodySize()+40)
	}
	c.send(g, 0, &cli, 0)
	c.send(g, 1, &srv, 0)
}

func tlsRecords(g *gen, typ byte, n int) []byte {
	var out []byte
	for n > 0 {
		k := min(n, 16384)
		out = append(out, typ, 0x03, 0x03, byte(k>>8), byte(k))
		out = append(out, g.body(k, true)...)
		n -= k
	}
	return out
}
