package rules

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"time"
	"unsafe"
)

// The record codec: a Finding as bytes without pointers, so that tens of
// thousands of kept findings cost the garbage collector nothing to scan
// and little memory (findingStore). Strings that repeat across findings
// (rule, host, cookie name, reasons, fixes, attribute values…) are written
// as the index of their copy in a strTable; those that are mostly unique
// (path, header line, raw value, fingerprints, expiry, chain details) are
// written inline. Integers are varints. Times keep their instant and
// location (UTC, Local or one of the table's); the monotonic clock reading
// is dropped (capture times have none). Addresses are written as the table
// index of their 4 or 16 bytes, and the port: a capture's findings come
// from few clients and servers, and an IPv6 address inline was 17 of a
// record's ~150 bytes, twice.
//
// A record is in two parts. Its head is what differs between the findings
// of one observation (a cookie of a message judged by several rules):
// title, CWE, fingerprint, confidence and fix. The shared part is the
// rest: the observation and its message (value, attributes, addresses,
// time, path…), some 90 bytes that the five or so findings of a Set-Cookie
// line have in common. The store writes a record's shared part only when
// it differs from the last one it wrote (findingStore.write); else the
// record refers back to it. What the store's entry keeps is not in the
// record at all: the key (rule, host, cookie), file, frame and catalogue
// order, and Count, LastTime and Severity, which folding changes.

// strTable interns the strings of encoded findings: index 0 is "".
type strTable struct {
	ids  map[string]uint32
	strs []string
	locs []*time.Location // locations other than UTC and Local, by index

	// recent is, for each field the encoder writes by index (slot*), the
	// indexes it wrote recently, by a cheap hash of the string (a cache
	// of recentSize entries, each overwritten by the next string that
	// hashes there): most fields take a few values (a rule's ID, title
	// and fix, a message's method, direction and reasons), and comparing
	// with the table's copy costs less than the map's hash and probe. The
	// copy is compared, not the caller's string: a caller's bytes may be
	// a message buffer that was reused since. The hash only picks an
	// entry: strings that collide cost a map lookup, as before.
	recent [numSlots][recentSize]uint32

	// lastAddr is the client's and the server's address bytes of the last
	// record and their indexes: the findings of a message are written one
	// after another and share both, which then cost a compare, not a map
	// lookup each.
	lastAddr [2]struct {
		b  [16]byte
		n  int
		id uint32
	}
}

// id returns the index of s, adding a copy of it if it is new (the table
// owns its strings: a kept finding holds no message's buffer).
func (t *strTable) id(s string) uint32 {
	if s == "" {
		return 0
	}
	if i, ok := t.ids[s]; ok {
		return i
	}
	return t.add(s)
}

// Fields that strTable.cached remembers the last index of.
const (
	slotRule = iota
	slotHost
	slotCookie
	slotFile
	slotTitle
	slotFix
	slotSubject
	slotDirection
	slotScheme
	slotSessConf
	slotSessReason
	slotFwID
	slotFwName
	slotFwReason
	slotSameSite
	slotDomain
	slotAttrPath
	slotMalformed
	slotMethod
	slotZone
	slotLinkKind
	slotLinkFile
	slotClientAddr
	slotServerAddr
	numSlots
)

const (
	recentBits = 6
	recentSize = 1 << recentBits
)

// cached is id for a field that tends to repeat: from the field's recent
// indexes when s is one of their strings, else the table's.
func (t *strTable) cached(slot int, s string) uint32 {
	if s == "" {
		return 0
	}
	h := uint32(len(s))*0x9e3779b1 ^ uint32(s[0])<<8 ^ uint32(s[len(s)/2])<<16 ^ uint32(s[len(s)-1])<<24
	c := &t.recent[slot][(h*0x85ebca6b)>>(32-recentBits)]
	if i := *c; i != 0 && t.strs[i] == s {
		return i
	}
	i := t.id(s)
	*c = i
	return i
}

// addrID is id for the bytes of address a (0 client, 1 server) of a
// record: the last one's index when they are its bytes (the findings of
// a message share both), else through the recent-index cache (a
// capture's findings come from few servers, and clients come back).
func (t *strTable) addrID(a int, b []byte) uint32 {
	m := &t.lastAddr[a]
	if m.id != 0 && m.n == len(b) && [16]byte(m.b) == addrBytes(b) {
		return m.id
	}
	// The string is b's bytes, not a copy: cached compares it and the
	// table copies it if it is new.
	i := t.cached(slotClientAddr+a, unsafe.String(unsafe.SliceData(b), len(b)))
	m.n, m.id = copy(m.b[:], b), i
	return i
}

// addrBytes is b (4 or 16 bytes) in a [16]byte, zero after it.
func addrBytes(b []byte) (out [16]byte) {
	copy(out[:], b)
	return out
}

// add adds a copy of s, which is not in t.
func (t *strTable) add(s string) uint32 {
	if t.strs == nil {
		t.strs = []string{""}
	}
	if t.ids == nil {
		t.ids = map[string]uint32{}
	}
	c := strings.Clone(s)
	i := uint32(len(t.strs))
	t.strs = append(t.strs, c)
	t.ids[c] = i
	return i
}

func (t *strTable) str(i uint64) (string, bool) {
	if i == 0 {
		return "", true
	}
	if i >= uint64(len(t.strs)) {
		return "", false
	}
	return t.strs[i], true
}

func (t *strTable) loc(l *time.Location) uint64 {
	for i, x := range t.locs {
		if x == l {
			return uint64(i)
		}
	}
	t.locs = append(t.locs, l)
	return uint64(len(t.locs) - 1)
}

// Flags of a record.
const (
	recDeletion = 1 << iota
	recTLS
	recTruncated
	recSession
	recValue
	recAttrs
)

// Flags of a record's Attributes.
const (
	attrSecure = 1 << iota
	attrHttpOnly
	attrPartitioned
	attrMaxAge
)

// Time kinds.
const (
	timeZero = iota
	timeUTC
	timeLocal
	timeOther // followed by a location index
)

type encoder struct {
	b []byte
	t *strTable
}

func (e *encoder) uint(v uint64)         { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)           { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) id(slot int, s string) { e.uint(uint64(e.t.cached(slot, s))) }
func (e *encoder) inline(s string)       { e.uint(uint64(len(s))); e.b = append(e.b, s...) }

func (e *encoder) time(t time.Time) {
	switch {
	case t.IsZero() && t.Location() == time.UTC:
		e.b = append(e.b, timeZero)
		return
	case t.Location() == time.UTC:
		e.b = append(e.b, timeUTC)
	case t.Location() == time.Local:
		e.b = append(e.b, timeLocal)
	default:
		e.b = append(e.b, timeOther)
		e.uint(e.t.loc(t.Location()))
	}
	e.int(t.Unix())
	e.uint(uint64(t.Nanosecond()))
}

func (e *encoder) addr(which int, a netip.AddrPort) {
	ip := a.Addr()
	switch {
	case !ip.IsValid():
		e.b = append(e.b, 0)
		return
	case ip.Is4():
		e.b = append(e.b, 4)
		b := ip.As4()
		e.uint(uint64(e.t.addrID(which, b[:])))
	default:
		e.b = append(e.b, 16)
		b := ip.As16()
		e.uint(uint64(e.t.addrID(which, b[:])))
		e.id(slotZone, ip.Zone())
	}
	e.b = binary.BigEndian.AppendUint16(e.b, a.Port())
}

// appendHead appends the head of f's record to b (codec.go's comment):
// what differs between the findings of an observation, apart from what
// the store's entry keeps.
func appendHead(b []byte, f *Finding, t *strTable) []byte {
	e := encoder{b, t}
	e.id(slotTitle, f.Title)
	e.int(int64(f.CWE))
	e.inline(f.Fingerprint)
	e.int(int64(f.Confidence))
	e.id(slotFix, f.Fix)
	return e.b
}

// appendShared appends the shared part of f's record to b, adding its
// repeating strings to t.
func appendShared(b []byte, f *Finding, t *strTable) []byte {
	e := encoder{b, t}
	e.id(slotSubject, f.Subject)
	e.id(slotDirection, f.Direction)
	e.id(slotScheme, f.Scheme)
	e.id(slotSessConf, f.Session.Confidence)
	e.id(slotSessReason, f.Session.Reason)
	e.id(slotFwID, f.Framework.ID)
	e.id(slotFwName, f.Framework.Name)
	e.id(slotFwReason, f.Framework.Reason)
	var flags uint64
	for _, x := range []struct {
		on   bool
		flag uint64
	}{{f.Deletion, recDeletion}, {f.TLS, recTLS}, {f.Truncated, recTruncated}, {f.Session.Session, recSession},
		{f.Value != nil, recValue}, {f.Attrs != nil, recAttrs}} {
		if x.on {
			flags |= x.flag
		}
	}
	e.uint(flags)
	e.int(int64(f.pos))
	if v := f.Value; v != nil {
		e.int(int64(v.Length))
		e.inline(v.Fingerprint)
		e.inline(v.Raw)
	}
	if a := f.Attrs; a != nil {
		var af uint64
		if a.Secure {
			af |= attrSecure
		}
		if a.HttpOnly {
			af |= attrHttpOnly
		}
		if a.Partitioned {
			af |= attrPartitioned
		}
		if a.MaxAge != nil {
			af |= attrMaxAge
		}
		e.uint(af)
		if a.MaxAge != nil {
			e.int(int64(*a.MaxAge))
		}
		e.id(slotSameSite, a.SameSite)
		e.id(slotDomain, a.Domain)
		e.id(slotAttrPath, a.Path)
		e.inline(a.Expires)
		e.id(slotMalformed, a.Malformed)
		if a.Unknown == nil {
			e.uint(0)
		} else {
			e.uint(uint64(len(a.Unknown)) + 1)
			for _, u := range a.Unknown {
				e.inline(u)
			}
		}
	}
	e.inline(f.Line)
	e.int(int64(f.LineIndex))
	e.uint(f.Message)
	e.addr(0, f.Client)
	e.addr(1, f.Server)
	e.time(f.Time)
	e.id(slotMethod, f.Method)
	e.inline(f.Path)
	e.int(int64(f.Status))
	if f.Chain == nil {
		e.uint(0)
	} else {
		e.uint(uint64(len(f.Chain)) + 1)
		for _, l := range f.Chain {
			e.id(slotLinkKind, l.Kind)
			e.id(slotLinkFile, l.File)
			e.uint(l.Frame)
			e.time(l.Time)
			e.inline(l.Detail)
		}
	}
	return e.b
}

var errRecord = errors.New("rules: corrupt finding record")

// decoder reads records. Its Value, Attributes, MaxAge, Unknown and Chain
// are reused by each decode (a finding decoded is valid until the next).
type decoder struct {
	b      []byte
	t      *strTable
	err    bool
	value  Value
	attrs  Attributes
	maxAge int
	chain  []Link
	fresh  bool // allocate Value, Attributes and Chain anew (for findings that are kept)
	omit   Omit // parts not decoded: their fields are not written (Sorted.Omitting)

	// last is the shared part this decoder read last (not fresh): where it
	// starts in its chunk and its fields. Findings in report order often
	// share it with the one before (the rules of a message's only cookie
	// follow one another), and copying the fields costs less than reading
	// them again. Value, Attributes and Chain are the decoder's own, which
	// hold that part's until the next read.
	last struct {
		at     *byte
		t      *strTable
		n      int // its length
		fields sharedFields
	}
}

// sharedFields are the fields of a record's shared part.
type sharedFields struct {
	subject, direction, scheme string
	session                    Session
	framework                  FrameworkInfo
	deletion, tls, truncated   bool
	pos                        int32
	value                      *Value
	attrs                      *Attributes
	line                       string
	lineIndex                  int
	message                    uint64
	client, server             netip.AddrPort
	time                       time.Time
	method, path               string
	status                     int
	chain                      []Link
}

func (m *sharedFields) from(f *Finding) {
	*m = sharedFields{f.Subject, f.Direction, f.Scheme, f.Session, f.Framework, f.Deletion, f.TLS, f.Truncated, f.pos,
		f.Value, f.Attrs, f.Line, f.LineIndex, f.Message, f.Client, f.Server, f.Time, f.Method, f.Path, f.Status, f.Chain}
}

func (m *sharedFields) to(f *Finding) {
	f.Subject, f.Direction, f.Scheme, f.Session, f.Framework = m.subject, m.direction, m.scheme, m.session, m.framework
	f.Deletion, f.TLS, f.Truncated, f.pos = m.deletion, m.tls, m.truncated, m.pos
	f.Value, f.Attrs, f.Line, f.LineIndex, f.Message = m.value, m.attrs, m.line, m.lineIndex, m.message
	f.Client, f.Server, f.Time, f.Method, f.Path, f.Status, f.Chain = m.client, m.server, m.time, m.method, m.path, m.status, m.chain
}

// uint reads a uvarint; most are one byte (indexes into the table, flags,
// lengths), read without a call: uint and int are small enough to be
// inlined, which binary.Uvarint and Varint are not (decoding is most of
// what writing a report costs).
func (d *decoder) uint() uint64 {
	var v uint64
	for i, c := range d.b {
		if i == binary.MaxVarintLen64-1 && c > 1 {
			break // overflows 64 bits (or is longer), as binary.Uvarint reports
		}
		if c < 0x80 {
			d.b = d.b[i+1:]
			return v | uint64(c)<<(7*i)
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	d.err, d.b = true, nil
	return 0
}

// int reads a varint (zig-zag, as binary.Varint).
func (d *decoder) int() int64 {
	u := d.uint()
	return int64(u>>1) ^ -int64(u&1)
}

// small reads an int that must fit in 32 bits.
func (d *decoder) small() int {
	v := d.int()
	if v != int64(int32(v)) {
		d.err = true
		return 0
	}
	return int(v)
}

// id reads a table index and returns its string.
func (d *decoder) id() string {
	i := d.uint()
	if i < uint64(len(d.t.strs)) {
		return d.t.strs[i]
	}
	return d.badID(i)
}

func (d *decoder) badID(i uint64) string {
	if i != 0 { // 0 is "" also in a table without strings
		d.err = true
	}
	return ""
}

func (d *decoder) inline() string {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.err, d.b = true, nil
		return ""
	}
	// The string shares the record's bytes: records are never changed once
	// written (the store's arena only grows), so no copy is made.
	s := unsafe.String(unsafe.SliceData(d.b), int(n))
	d.b = d.b[n:]
	return s
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) time() time.Time {
	kind := d.byte()
	if kind == timeZero {
		return time.Time{}
	}
	var loc *time.Location
	switch kind {
	case timeUTC:
		loc = time.UTC
	case timeLocal:
		loc = time.Local
	case timeOther:
		i := d.uint()
		if i >= uint64(len(d.t.locs)) {
			d.err = true
			return time.Time{}
		}
		loc = d.t.locs[i]
	default:
		d.err = true
		return time.Time{}
	}
	sec, nsec := d.int(), d.uint()
	if nsec >= 1e9 {
		d.err = true
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).In(loc)
}

func (d *decoder) addr() netip.AddrPort {
	var ip netip.Addr
	switch d.byte() {
	case 0:
		return netip.AddrPort{}
	case 4:
		b := d.id()
		if len(b) != 4 {
			d.err = true
			return netip.AddrPort{}
		}
		var a [4]byte
		copy(a[:], b)
		ip = netip.AddrFrom4(a)
	case 16:
		b := d.id()
		if len(b) != 16 {
			d.err = true
			return netip.AddrPort{}
		}
		var a [16]byte
		copy(a[:], b)
		ip = netip.AddrFrom16(a)
		if z := d.id(); z != "" {
			ip = ip.WithZone(z)
		}
	default:
		d.err = true
		return netip.AddrPort{}
	}
	if len(d.b) < 2 {
		d.err = true
		return netip.AddrPort{}
	}
	port := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return netip.AddrPortFrom(ip, port)
}

// decodeHead reads the head of a record into f.
func (d *decoder) decodeHead(f *Finding) {
	f.Title = d.id()
	f.CWE = d.small()
	f.Fingerprint = d.inline()
	f.Confidence = Confidence(d.small())
	f.Fix = d.id()
}

// skipInline passes over an inline string.
func (d *decoder) skipInline() {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.err, d.b = true, nil
		return
	}
	d.b = d.b[n:]
}

// skipHead passes over the head of a record (OmitHead).
func (d *decoder) skipHead() {
	d.uint() // title
	d.uint() // CWE
	d.skipInline()
	d.uint() // confidence
	d.uint() // fix
}

// skipAttrs passes over a record's Attributes (OmitAttrs), af their flags.
func (d *decoder) skipAttrs(af uint64) error {
	if af&attrMaxAge != 0 {
		d.uint()
	}
	d.uint() // SameSite
	d.uint() // Domain
	d.uint() // Path
	d.skipInline()
	d.uint() // Malformed
	if n := d.uint(); n > 0 {
		if n-1 > uint64(len(d.b)) {
			return errRecord
		}
		for range n - 1 {
			d.skipInline()
		}
	}
	return nil
}

// skipAddr passes over an address (OmitAddrs).
func (d *decoder) skipAddr() {
	switch d.byte() {
	case 0:
		return
	case 4:
		d.uint()
	case 16:
		d.uint()
		d.uint() // zone
	default:
		d.err = true
		return
	}
	if len(d.b) < 2 {
		d.err, d.b = true, nil
		return
	}
	d.b = d.b[2:]
}

// skipTime passes over a time (OmitTimes).
func (d *decoder) skipTime() {
	switch d.byte() {
	case timeZero:
		return
	case timeOther:
		d.uint()
	case timeUTC, timeLocal:
	default:
		d.err = true
		return
	}
	d.uint()
	d.uint()
}

// decodeShared reads the shared part of a record into f (but for the
// parts d omits).
func (d *decoder) decodeShared(f *Finding) error {
	f.Subject, f.Direction, f.Scheme = d.id(), d.id(), d.id()
	f.Session.Confidence, f.Session.Reason = d.id(), d.id()
	f.Framework.ID, f.Framework.Name, f.Framework.Reason = d.id(), d.id(), d.id()
	flags := d.uint()
	f.Deletion, f.TLS, f.Truncated = flags&recDeletion != 0, flags&recTLS != 0, flags&recTruncated != 0
	f.Session.Session = flags&recSession != 0
	f.pos = int32(d.small())
	f.Value = nil
	if flags&recValue != 0 {
		v := &d.value
		if d.fresh {
			v = new(Value)
		}
		v.Length = d.small()
		v.Fingerprint, v.Raw = d.inline(), d.inline()
		f.Value = v
	}
	switch {
	case d.omit&OmitAttrs != 0:
		if flags&recAttrs != 0 {
			if err := d.skipAttrs(d.uint()); err != nil {
				return err
			}
		}
	case flags&recAttrs == 0:
		f.Attrs = nil
	default:
		a := &d.attrs
		if d.fresh {
			a = new(Attributes)
		}
		unknown := a.Unknown[:0]
		*a = Attributes{}
		af := d.uint()
		a.Secure, a.HttpOnly, a.Partitioned = af&attrSecure != 0, af&attrHttpOnly != 0, af&attrPartitioned != 0
		if af&attrMaxAge != 0 {
			m := &d.maxAge
			if d.fresh {
				m = new(int)
			}
			*m = d.small()
			a.MaxAge = m
		}
		a.SameSite, a.Domain, a.Path = d.id(), d.id(), d.id()
		a.Expires, a.Malformed = d.inline(), d.id()
		if n := d.uint(); n > 0 {
			if n-1 > uint64(len(d.b)) { // each takes a byte at least
				return errRecord
			}
			if d.fresh || unknown == nil {
				unknown = make([]string, 0, n-1)
			}
			for range n - 1 {
				unknown = append(unknown, d.inline())
			}
			a.Unknown = unknown
		}
		f.Attrs = a
	}
	if d.omit&OmitLine != 0 {
		d.skipInline()
		d.uint()
	} else {
		f.Line = d.inline()
		f.LineIndex = d.small()
	}
	f.Message = d.uint()
	if d.omit&OmitAddrs != 0 {
		d.skipAddr()
		d.skipAddr()
	} else {
		f.Client, f.Server = d.addr(), d.addr()
	}
	if d.omit&OmitTimes != 0 {
		d.skipTime()
	} else {
		f.Time = d.time()
	}
	f.Method = d.id()
	f.Path = d.inline()
	f.Status = d.small()
	f.Chain = nil
	if n := d.uint(); n > 0 {
		if n-1 > uint64(len(d.b)) {
			return errRecord
		}
		chain := d.chain[:0]
		if d.fresh || chain == nil {
			chain = make([]Link, 0, n-1)
		}
		for range n - 1 {
			l := Link{Kind: d.id(), File: d.id(), Frame: d.uint()}
			if d.omit&OmitTimes != 0 {
				d.skipTime()
			} else {
				l.Time = d.time()
			}
			l.Detail = d.inline()
			chain = append(chain, l)
		}
		if !d.fresh {
			d.chain = chain
		}
		f.Chain = chain
	}
	if d.err {
		return errRecord
	}
	return nil
}

// decodeRecord reads the record at chunk[off:off+size] into f: its head,
// and its shared part, which follows the head or (a reference back)
// starts earlier in the chunk. The fields the store's entry keeps are
// not set.
func (d *decoder) decodeRecord(chunk []byte, off, size int, f *Finding) error {
	if off < 0 || size < 0 || off+size > len(chunk) {
		return errRecord
	}
	d.b, d.err = chunk[off:off+size], false
	if d.omit&OmitHead != 0 {
		d.skipHead()
	} else {
		d.decodeHead(f)
	}
	back := d.uint()
	if back == 0 { // the shared part follows
		if err := d.shared(f); err != nil {
			return err
		}
		if len(d.b) != 0 {
			return errRecord
		}
		return nil
	}
	if d.err || len(d.b) != 0 || back > uint64(off) {
		return errRecord
	}
	// The shared part ends at or before this record's start; it is read
	// up to that point.
	d.b = chunk[off-int(back) : off]
	return d.shared(f)
}

// shared reads the shared part at d.b into f, or copies it when it is the
// one this decoder read last.
func (d *decoder) shared(f *Finding) error {
	b := d.b
	if len(b) == 0 {
		return errRecord
	}
	if !d.fresh && d.last.at == &b[0] && d.last.t == d.t {
		d.last.fields.to(f)
		d.b = b[d.last.n:]
		return nil
	}
	d.last.at = nil // d's Value, Attributes and Chain are about to change
	if err := d.decodeShared(f); err != nil {
		return err
	}
	if !d.fresh {
		d.last.at, d.last.t, d.last.n = &b[0], d.t, len(b)-len(d.b)
		d.last.fields.from(f)
	}
	return nil
}
