package correlate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strings"
	"time"
	"unsafe"

	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/rules"
)

// Session values are the bulk of the correlator's state (one per session
// cookie value seen; 18,126 on the generated 1 GB capture, up to MaxValues),
// so each is kept compact:
//
//   - values live in 128-byte slots in chunks (valueChunk), linked into the
//     least-recently-used list by slot index, found by their keyed hash in
//     an open-addressing table of slot numbers (lookup): no list element,
//     map entry or pointer per value but the evidence slice; the rare extra
//     clients and decrypted Set-Cookies are in maps by slot;
//   - what only findings need — the plaintext requests that carried the
//     value (the first, and each client's first and latest), with their
//     file, frame, time, addresses, method and path — is encoded in one
//     pointer-free byte slice per value (value.ev, records written by
//     encodeReq), shared between the roles that point to the same request,
//     and decoded when a finding is emitted; decisions read only the head
//     of a record (time, file, frame);
//   - the value as findings show it (rules.Value: length and fingerprint) is
//     kept as 10 bytes (fingerprint) and rebuilt when a finding is emitted;
//   - times are kept as seconds and nanoseconds, addresses without their zone
//     pointer, the host key and cookie name as ids of shared strings.
//
// A request record is: uvarint length of the rest, then the time (varint
// Unix seconds; uvarint microseconds times 2, or nanoseconds times 2 plus 1
// when they are not whole microseconds), uvarint frame, uvarint file index
// (Correlator.files), client and server (appendAddrPort), uvarint length and
// the method, uvarint length and the path. Its kind is always "request",
// its detail reqLink's, its rules.Value the value's, its class the cookie
// name's (requestClass depends on the name only).

// valueChunk is the number of value slots per chunk: as many as fit in
// 32 KiB, the largest size class (a larger chunk is rounded up to whole
// 8 KiB pages: 256 slots of 136 bytes took 40 KiB). Slot numbers are int32:
// 2^31 values would take 256 GiB, far beyond any --max-values a run can hold.
const valueChunk = 32 << 10 / int32(unsafe.Sizeof(value{}))

// value is one session value of one host and cookie name, known by hash.
type value struct {
	key      [16]byte
	ev       []byte    // encoded request records, referenced by sent and the clients' first and last
	lastSec  int64     // latest capture time the value was used at (Unix seconds and nanoseconds)
	used     uint64    // Correlator.tick when last moved to the front of the value list
	c0       clientUse // the first client; the others are in Correlator.moreClients
	prev     int32     // value list: more recently used neighbour, -1 at the front
	next     int32     // less recently used neighbour, -1 at the back (next free slot when free)
	lastNsec int32
	sent     ref   // first plaintext request carrying it
	host     strID // the host's key
	name     strID // the cookie name
	fp       fingerprint
	nclients uint8
	setPlain bool // set by a plaintext Set-Cookie
	reuse    bool // session-reuse fired
	decided  bool // cookie-set-over-tls-leaked decided
	tlsSet   bool // has an entry in Correlator.tlsSets
}

// ref locates a record in value.ev: its offset plus one, 0 for none.
type ref uint32

// clientUse is one client address's requests carrying a value.
type clientUse struct {
	addr        addr
	rotated     bool  // session-not-rotated fired (or checked) for this client
	idx         int32 // position of the value in Correlator.byClient
	first, last ref
}

// addr is a netip.Addr without its zone (addresses decoded from packets have
// none): 17 bytes and no pointer.
type addr struct {
	b    [16]byte
	kind uint8 // 0 invalid, 4 IPv4, 6 IPv6 (IPv4-mapped ones stay IPv6)
}

func packAddr(a netip.Addr) addr {
	switch {
	case a.Is4():
		return addr{b: a.As16(), kind: 4}
	case a.Is6():
		return addr{b: a.As16(), kind: 6}
	}
	return addr{}
}

func (a addr) unpack() netip.Addr {
	switch a.kind {
	case 4:
		return netip.AddrFrom16(a.b).Unmap()
	case 6:
		return netip.AddrFrom16(a.b)
	}
	return netip.Addr{}
}

// client returns the i-th client of the value in slot vi. Most values have
// one client (c0): the others, like the rare decrypted Set-Cookie (tlsSets),
// are kept in a map by slot rather than in a field of every value.
func (c *Correlator) client(vi int32, i int) *clientUse {
	if i == 0 {
		return &c.val(vi).c0
	}
	return &c.moreClients[vi][i-1]
}

// addClient appends a client to the value in slot vi and returns its index.
func (c *Correlator) addClient(vi int32, a addr) int {
	v := c.val(vi)
	cu := clientUse{addr: a}
	if v.nclients == 0 {
		v.c0 = cu
	} else {
		c.moreClients[vi] = append(c.moreClients[vi], cu)
	}
	v.nclients++
	return int(v.nclients) - 1
}

// setTLS returns where the value in slot vi was set inside decrypted TLS, nil if nowhere.
func (c *Correlator) setTLS(vi int32) *tlsSet {
	if !c.val(vi).tlsSet {
		return nil
	}
	return c.tlsSets[vi]
}

// fingerprint is a cookie value as findings show it (rules.Value, never
// with Raw), in 10 bytes: its length and the first 6 bytes of its unkeyed
// SHA-256.
type fingerprint struct {
	n [4]byte // the length, little endian: bytes keep the value slot at 128 bytes
	b [6]byte
}

// fingerprint returns the fingerprint of a value. It does not allocate.
func (c *Correlator) fingerprint(s string) fingerprint {
	c.fpIn = append(c.fpIn[:0], s...)
	sum := sha256.Sum256(c.fpIn)
	var f fingerprint
	binary.LittleEndian.PutUint32(f.n[:], uint32(len(s)))
	f.b = [6]byte(sum[:6])
	return f
}

// value returns what rules.NewValue(s, false) returns for the value s.
func (f fingerprint) value() *rules.Value {
	var h [12]byte
	hex.Encode(h[:], f.b[:])
	return &rules.Value{Length: int(binary.LittleEndian.Uint32(f.n[:])), Fingerprint: "sha256:" + string(h[:])}
}

// usedAt records a use at t: the latest time wins.
func (v *value) usedAt(t time.Time) {
	s, ns := t.Unix(), int32(t.Nanosecond())
	if s > v.lastSec || s == v.lastSec && ns > v.lastNsec {
		v.lastSec, v.lastNsec = s, ns
	}
}

// val returns the value in slot i.
func (c *Correlator) val(i int32) *value {
	return &c.vchunks[i/valueChunk][i%valueChunk]
}

// allocValue returns a free slot (zeroed), adding a chunk when none is free.
// Chunks are kept: a run holds as many as its peak number of values needs.
func (c *Correlator) allocValue() int32 {
	if c.vfree < 0 {
		base := int32(len(c.vchunks)) * valueChunk
		ch := make([]value, valueChunk)
		for i := range ch {
			ch[i].next = base + int32(i) + 1
		}
		ch[valueChunk-1].next = -1
		c.vchunks = append(c.vchunks, ch)
		c.vfree = base
	}
	i := c.vfree
	v := c.val(i)
	c.vfree = v.next
	*v = value{prev: -1, next: -1}
	return i
}

// freeValue clears slot i (releasing what it points to) and makes it free.
func (c *Correlator) freeValue(i int32) {
	if v := c.val(i); v.nclients > 1 {
		delete(c.moreClients, i)
	}
	delete(c.tlsSets, i)
	c.unrefStr(c.val(i).host)
	c.unrefStr(c.val(i).name)
	*c.val(i) = value{prev: -1, next: c.vfree}
	c.vfree = i
}

// pushFront puts slot i at the front of the value list.
func (c *Correlator) pushFront(i int32) {
	v := c.val(i)
	v.prev, v.next = -1, c.vhead
	if c.vhead >= 0 {
		c.val(c.vhead).prev = i
	} else {
		c.vtail = i
	}
	c.vhead = i
}

// unlink takes slot i out of the value list.
func (c *Correlator) unlink(i int32) {
	v := c.val(i)
	if v.prev >= 0 {
		c.val(v.prev).next = v.next
	} else {
		c.vhead = v.next
	}
	if v.next >= 0 {
		c.val(v.next).prev = v.prev
	} else {
		c.vtail = v.prev
	}
	v.prev, v.next = -1, -1
}

// strID is the id of a string the values refer to (host keys and cookie
// names) in Correlator.strs; 0 is none. A string is kept while values refer
// to it (strRefs), so the table is bounded by the values tracked.
type strID uint32

// refStr returns the id of s, adding a reference (and s, copied, when new).
func (c *Correlator) refStr(s string) strID {
	id, ok := c.strIDs[s]
	if !ok {
		s = strings.Clone(s)
		if n := len(c.strFree); n > 0 {
			id = c.strFree[n-1]
			c.strFree = c.strFree[:n-1]
			c.strs[id] = s
		} else {
			if len(c.strs) == 0 {
				c.strs, c.strRefs = append(c.strs, ""), append(c.strRefs, 0) // id 0: none
			}
			id = strID(len(c.strs))
			c.strs, c.strRefs = append(c.strs, s), append(c.strRefs, 0)
		}
		c.strIDs[s] = id
	}
	c.strRefs[id]++
	return id
}

// unrefStr drops a reference to id, and the string with the last one.
func (c *Correlator) unrefStr(id strID) {
	if id == 0 {
		return
	}
	if c.strRefs[id]--; c.strRefs[id] == 0 {
		delete(c.strIDs, c.strs[id])
		c.strs[id] = ""
		c.strFree = append(c.strFree, id)
	}
}

func (c *Correlator) str(id strID) string { return c.strs[id] }

// fileID returns the index of a file name in c.files, adding it.
func (c *Correlator) fileID(f string) uint32 {
	if id, ok := c.fileIDs[f]; ok {
		return id
	}
	f = strings.Clone(f)
	id := uint32(len(c.files))
	c.files = append(c.files, f)
	c.fileIDs[f] = id
	return id
}

func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	a := packAddr(ap.Addr())
	b = append(b, a.kind)
	switch a.kind {
	case 4:
		b = append(b, a.b[12:]...)
	case 6:
		b = append(b, a.b[:]...)
	}
	return binary.LittleEndian.AppendUint16(b, ap.Port())
}

func readAddrPort(b []byte) (netip.AddrPort, []byte) {
	var a addr
	a.kind = b[0]
	b = b[1:]
	switch a.kind {
	case 4:
		a.b = netip.AddrFrom4([4]byte(b[:4])).As16()
		b = b[4:]
	case 6:
		a.b = [16]byte(b[:16])
		b = b[16:]
	}
	return netip.AddrPortFrom(a.unpack(), binary.LittleEndian.Uint16(b)), b[2:]
}

// encodeReq returns the record of a plaintext request read from file, in a
// buffer reused by the next call.
func (c *Correlator) encodeReq(file string, req *httpparse.Request) []byte {
	b := c.recBody[:0]
	b = binary.AppendVarint(b, req.Time.Unix())
	if ns := uint64(req.Time.Nanosecond()); ns%1000 == 0 { // pcap: microseconds
		b = binary.AppendUvarint(b, ns/1000<<1)
	} else {
		b = binary.AppendUvarint(b, ns<<1|1)
	}
	b = binary.AppendUvarint(b, req.Frame)
	b = binary.AppendUvarint(b, uint64(c.fileID(file)))
	b = appendAddrPort(b, req.Client)
	b = appendAddrPort(b, req.Server)
	b = binary.AppendUvarint(b, uint64(len(req.Method)))
	b = append(b, req.Method...)
	b = binary.AppendUvarint(b, uint64(len(req.Path)))
	b = append(b, req.Path...)
	c.recBody = b
	r := binary.AppendUvarint(c.rec[:0], uint64(len(b)))
	c.rec = append(r, b...)
	return c.rec
}

// record returns the bytes of the record at r in ev, its length prefix included.
func record(ev []byte, r ref) []byte {
	b := ev[r-1:]
	n, k := binary.Uvarint(b)
	return b[:k+int(n)]
}

// body returns the record at r without its length prefix.
func body(ev []byte, r ref) []byte {
	b := ev[r-1:]
	n, k := binary.Uvarint(b)
	return b[k : k+int(n)]
}

// head decodes the link of the record at r as decisions need it (before,
// times): file, frame and time, without kind or detail. It does not
// allocate.
func (c *Correlator) head(v *value, r ref) rules.Link {
	l, _ := c.readHead(body(v.ev, r))
	return l
}

func (c *Correlator) readHead(b []byte) (rules.Link, []byte) {
	sec, k := binary.Varint(b)
	b = b[k:]
	ns, k := binary.Uvarint(b)
	b = b[k:]
	nsec := int64(ns >> 1)
	if ns&1 == 0 {
		nsec *= 1000
	}
	frame, k := binary.Uvarint(b)
	b = b[k:]
	file, k := binary.Uvarint(b)
	b = b[k:]
	return rules.Link{Kind: "request", File: c.files[file], Frame: frame, Time: time.Unix(sec, nsec).UTC()}, b
}

// server returns the server address of the record at r, unmapped.
func (c *Correlator) server(v *value, r ref) netip.Addr {
	_, b := c.readHead(body(v.ev, r))
	_, b = readAddrPort(b)
	s, _ := readAddrPort(b)
	return s.Addr().Unmap()
}

// exposureAt decodes the record at r as the exposure a finding needs: what
// Request built for the message.
func (c *Correlator) exposureAt(v *value, r ref) exposure {
	l, b := c.readHead(body(v.ev, r))
	e := exposure{val: v.fp, direction: "request", cls: c.requestClass(httpparse.Cookie{Name: c.str(v.name)})}
	e.client, b = readAddrPort(b)
	e.server, b = readAddrPort(b)
	n, k := binary.Uvarint(b)
	e.method = string(b[k : k+int(n)])
	b = b[k+int(n):]
	n, k = binary.Uvarint(b)
	e.path = string(b[k : k+int(n)])
	l.Detail = e.method + " " + clip(e.path) // reqDetail
	e.link = l
	return e
}

// link decodes the record at r as a chain link (reqLink's).
func (c *Correlator) link(v *value, r ref) rules.Link {
	return c.exposureAt(v, r).link
}

// store points some references of the value in slot vi to the record rec:
// sent when setSent, and the first and latest request of its client ci
// (-1: none) when setFirst, setLast. v.ev is rewritten to hold exactly the
// records still referenced, each once (so it does not grow as a client keeps
// sending the value), reusing its storage when it fits.
func (c *Correlator) store(vi int32, rec []byte, setSent bool, ci int, setFirst, setLast bool) {
	v := c.val(vi)
	buf := append(c.evBuf[:0], rec...)
	const fresh = 1 // rec's ref in buf
	var moved [2*maxClients + 1][2]ref
	nm := 0
	keep := func(r ref) ref {
		if r == 0 {
			return 0
		}
		for _, m := range moved[:nm] {
			if m[0] == r {
				return m[1]
			}
		}
		nr := ref(len(buf) + 1)
		buf = append(buf, record(v.ev, r)...)
		moved[nm] = [2]ref{r, nr}
		nm++
		return nr
	}
	if setSent {
		v.sent = fresh
	} else {
		v.sent = keep(v.sent)
	}
	for i := range int(v.nclients) {
		cu := c.client(vi, i)
		if i == ci && setFirst {
			cu.first = fresh
		} else {
			cu.first = keep(cu.first)
		}
		if i == ci && setLast {
			cu.last = fresh
		} else {
			cu.last = keep(cu.last)
		}
	}
	if cap(v.ev) >= len(buf) {
		v.ev = append(v.ev[:0], buf...)
	} else {
		v.ev = append([]byte(nil), buf...)
	}
	c.evBuf = buf[:0]
}

// The slot of each tracked value is found by its keyed hash in c.vindex, an
// open-addressing table (linear probing) of slot numbers plus one (0: empty),
// at most 3/4 full: about 7 bytes per value where a map[[16]byte]int32 takes
// about 36. The hash is uniform and secret (HMAC-SHA256 with the run's key),
// so its first 8 bytes pick the bucket and traffic cannot aim at one.

func home(k [16]byte, mask int) int { return int(binary.LittleEndian.Uint64(k[:8]) & uint64(mask)) }

// lookup returns the slot of the value whose key is k.
func (c *Correlator) lookup(k [16]byte) (int32, bool) {
	if len(c.vindex) == 0 {
		return 0, false
	}
	mask := len(c.vindex) - 1
	for i := home(k, mask); c.vindex[i] != 0; i = (i + 1) & mask {
		if vi := c.vindex[i] - 1; c.val(vi).key == k {
			return vi, true
		}
	}
	return 0, false
}

// insertIndex adds slot vi under its value's key (not already present).
func (c *Correlator) insertIndex(vi int32) {
	if (c.nvalues+1)*4 > len(c.vindex)*3 {
		old := c.vindex
		c.vindex = make([]int32, max(64, 2*len(old)))
		for _, e := range old {
			if e != 0 {
				c.place(e)
			}
		}
	}
	c.place(vi + 1)
	c.nvalues++
}

func (c *Correlator) place(e int32) {
	mask := len(c.vindex) - 1
	i := home(c.val(e-1).key, mask)
	for c.vindex[i] != 0 {
		i = (i + 1) & mask
	}
	c.vindex[i] = e
}

// removeIndex removes the value whose key is k, shifting back the entries
// after it that probed past it (no tombstones, so lookups stay short).
func (c *Correlator) removeIndex(k [16]byte) {
	if len(c.vindex) == 0 {
		return
	}
	mask := len(c.vindex) - 1
	i := home(k, mask)
	for ; c.vindex[i] != 0; i = (i + 1) & mask {
		if c.val(c.vindex[i]-1).key == k {
			break
		}
	}
	if c.vindex[i] == 0 {
		return
	}
	for j := (i + 1) & mask; c.vindex[j] != 0; j = (j + 1) & mask {
		h := home(c.val(c.vindex[j]-1).key, mask)
		// The entry at j may move to the hole at i unless its home lies
		// cyclically in (i, j].
		if i <= j && (h <= i || h > j) || i > j && h <= i && h > j {
			c.vindex[i] = c.vindex[j]
			i = j
		}
	}
	c.vindex[i] = 0
	c.nvalues--
}
