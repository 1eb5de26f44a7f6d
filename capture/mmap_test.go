//go:build unix

package capture

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
	"github.com/cookiewatch/cookiewatch/internal/gen"
)

// compareReaders reads data with the mapped-file reader and with pcapgo and
// fails on any difference in packets, capture info, link type or where
// and whether each stops with an error. The one intended difference: a file
// ending right after a record header is truncated for us and a clean end for
// pcapgo.
func compareReaders(t testing.TB, data []byte) {
	r, perr := pcapgo.NewReader(bufio.NewReader(bytes.NewReader(data)))
	if len(data) < 24 {
		return // both refuse; openMmap never maps such a file
	}
	m, merr := newMmapPcap(data)
	if (perr == nil) != (merr == nil) {
		t.Fatalf("header: pcapgo %v, mmap %v", perr, merr)
	}
	if perr != nil {
		return
	}
	r.SetSnaplen(effectiveSnaplen(r.Snaplen())) // as newFile does for pcapgo
	if r.LinkType() != m.linkType {
		t.Fatalf("link type: pcapgo %v, mmap %v", r.LinkType(), m.linkType)
	}
	for i := 1; ; i++ {
		pd, pci, perr := r.ZeroCopyReadPacketData()
		md, mci, merr := m.next()
		if perr == io.EOF && errors.Is(merr, errRecordHeaderOnly) {
			return
		}
		if (perr == nil) != (merr == nil) || (perr == io.EOF) != (merr == io.EOF) {
			t.Fatalf("record %d: pcapgo error %v, mmap error %v", i, perr, merr)
		}
		if perr != nil {
			return
		}
		if !bytes.Equal(pd, md) || !pci.Timestamp.Equal(mci.Timestamp) || pci.CaptureLength != mci.CaptureLength || pci.Length != mci.Length {
			t.Fatalf("record %d differs: pcapgo %v %d bytes, mmap %v %d bytes", i, pci, len(pd), mci, len(md))
		}
	}
}

// TestMmapMatchesPcapgo compares the two readers on every classic pcap of
// the repository and of the shared corpus, whole and cut at many points.
func TestMmapMatchesPcapgo(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "pcaps", "*"))
	more, _ := filepath.Glob("../testdata/pcap/*.pcap")
	files = append(files, more...)
	n := 0
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) < 4 || (string(data[:4]) != "\xd4\xc3\xb2\xa1" && string(data[:4]) != "\xa1\xb2\xc3\xd4" &&
			string(data[:4]) != "\x4d\x3c\xb2\xa1" && string(data[:4]) != "\xa1\xb2\x3c\x4d") {
			continue // pcapng or gzip: not mapped
		}
		n++
		t.Run(filepath.Base(path), func(t *testing.T) {
			compareReaders(t, data)
			for _, cut := range []int{24, 30, 40, 41, len(data) / 3, len(data) / 2, len(data) - 1} {
				if cut > 0 && cut < len(data) {
					compareReaders(t, data[:cut])
				}
			}
		})
	}
	if n < 3 {
		t.Fatalf("only %d classic pcap files compared", n)
	}
}

// FuzzMmapPcap compares the mapped-file reader with pcapgo on any input.
func FuzzMmapPcap(f *testing.F) {
	if data, err := os.ReadFile("../testdata/pcap/login.pcap"); err == nil {
		f.Add(data)
		f.Add(data[:100])
	}
	f.Add([]byte("\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00" +
		"\x01\x00\x00\x00\x40\x42\x0f\x00\x04\x00\x00\x00\x04\x00\x00\x00abcd"))
	f.Fuzz(func(t *testing.T, data []byte) { compareReaders(t, data) })
}

// genCapture writes a generated capture of about size bytes to dir.
func genCapture(t *testing.T, dir string, size int64) string {
	path := filepath.Join(dir, "gen.pcap")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Generate(gen.Config{Seed: 3, Bytes: size, Conns: 50}, out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOpenMapsLargePcap: a classic pcap file over the size threshold is
// mapped and gives the same analysis as the pcapgo path.
func TestOpenMapsLargePcap(t *testing.T) {
	path := genCapture(t, t.TempDir(), 3<<20)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !f.Mapped() || f.Format() != "pcap" {
		t.Fatalf("Mapped %v, format %q", f.Mapped(), f.Format())
	}
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	g, err := NewReader(path, in) // the pcapgo path
	if err != nil {
		t.Fatal(err)
	}
	if g.Mapped() {
		t.Fatal("NewReader mapped")
	}
	var recs [2]*recorder
	for i, src := range []*File{f, g} {
		recs[i] = &recorder{}
		a, err := NewAnalyzer(Config{}, recs[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Run(src); err != nil {
			t.Fatal(err)
		}
		if a.Stats().Packets < 1000 {
			t.Fatalf("only %d packets", a.Stats().Packets)
		}
	}
	a, na := digest(recs[0])
	b, nb := digest(recs[1])
	if a != b || na < 1<<20 {
		t.Fatalf("mapped and pcapgo analyses differ or are small (%d, %d bytes delivered)", na, nb)
	}
}

// digest summarises what a recorder got: every connection's key, delivered
// bytes, frame spans and gaps, in order; and how many bytes were delivered.
func digest(r *recorder) (string, int) {
	h := sha256.New()
	n := 0
	for _, c := range r.conns {
		fmt.Fprintf(h, "%v %d|", c.key, c.closes)
		for d := range 2 {
			h.Write(c.bytes[d].Bytes())
			n += c.bytes[d].Len()
			fmt.Fprintf(h, "%v %v|", c.spans[d], c.gaps[d])
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil)), n
}

// TestMappedFileShrinks: a mapped file cut shorter by someone else during
// the run ends the run with ErrTruncated instead of a crash (SIGBUS).
func TestMappedFileShrinks(t *testing.T) {
	path := genCapture(t, t.TempDir(), 8<<20)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !f.Mapped() {
		t.Fatal("not mapped")
	}
	if err := os.Truncate(path, 2<<20); err != nil {
		t.Fatal(err)
	}
	a, err := NewAnalyzer(Config{}, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(f)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("Run: %v, want ErrTruncated", err)
	}
	if st := a.Stats(); !st.Truncated || st.Packets == 0 {
		t.Fatalf("stats %+v", st)
	}
	t.Log(err)
}

// frameLog is a Handler that logs the Analyzer's current frame (Frame) at
// every Conn call and every Config.Progress call, in order, and passes the
// calls on to h.
type frameLog struct {
	a   *Analyzer
	h   Handler
	log []byte
}

func (l *frameLog) progress(f uint64) {
	l.log = fmt.Appendf(l.log, "p%d@%d ", f, l.a.Frame())
}

func (l *frameLog) Open(k ConnKey) Conn {
	l.log = fmt.Appendf(l.log, "o%d ", l.a.Frame())
	return &frameLogConn{l, l.h.Open(k)}
}

// sum is a digest of the log (and its length).
func (l *frameLog) sum() string {
	return fmt.Sprintf(" log %d %x", len(l.log), sha256.Sum256(l.log))
}

type frameLogConn struct {
	l *frameLog
	c Conn
}

func (c *frameLogConn) Data(d Dir, b []byte, s []Span) {
	c.l.log = fmt.Appendf(c.l.log, "d%d ", c.l.a.Frame())
	c.c.Data(d, b, s)
}

func (c *frameLogConn) Gap(d Dir, n int) {
	c.l.log = fmt.Appendf(c.l.log, "g%d ", c.l.a.Frame())
	c.c.Gap(d, n)
}

func (c *frameLogConn) Close() {
	c.l.log = fmt.Appendf(c.l.log, "c%d ", c.l.a.Frame())
	c.c.Close()
}

// TestSplitterMatchesShards: two shards fed by a Splitter deliver exactly
// what two shards that each read the whole file deliver (bytes, frame
// spans, gaps, merged counters, and the current frame at every Conn and
// Config.Progress call), on every classic pcap of the corpus and the
// repository (mapped whatever their size) and a generated capture with
// faults.
func TestSplitterMatchesShards(t *testing.T) {
	defer func(n int64) { mmapMinSize = n }(mmapMinSize)
	mmapMinSize = 0
	files, _ := filepath.Glob(filepath.Join(corpusDir, "pcaps", "*"))
	more, _ := filepath.Glob("../testdata/pcap/*.pcap")
	files = append(files, more...)
	g := genCapture(t, t.TempDir(), 4<<20)
	data, err := os.ReadFile(g)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, data[:len(data)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	files = append(files, g, cut)
	n := 0
	for _, path := range files {
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if !f.Mapped() {
			f.Close()
			continue
		}
		n++
		t.Run(filepath.Base(path), func(t *testing.T) {
			defer f.Close()
			splitterMatches(t, path, f, Config{}, 2)
			// 3 shards as well (a File is split once): their owners
			// are h % 3, not the mask of a power of two (Splitter.read).
			f3, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f3.Close()
			splitterMatches(t, path, f3, Config{}, 3)
		})
	}
	if n < 10 {
		t.Fatalf("only %d files compared", n)
	}
}

// splitterMatches fails if shards shards fed by a Splitter over mapped file
// f (at path) differ from as many shards that each read the whole file with
// pcapgo: deliveries, errors, the frame log and merged Stats.
func splitterMatches(t *testing.T, path string, f *File, cfg Config, shards int) {
	// Each shard reads the whole file.
	want := make([]string, shards)
	var wantStats []Stats
	for i := range shards {
		g, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		src, err := NewReader(path, g)
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		l := &frameLog{h: rec}
		a, err := NewAnalyzer(cfgFor(cfg, i, shards, l), l)
		if err != nil {
			t.Fatal(err)
		}
		l.a = a
		err = a.Run(src)
		g.Close()
		want[i], _ = digest(rec)
		want[i] += fmt.Sprint(err) + l.sum()
		wantStats = append(wantStats, a.Stats())
	}
	// One Splitter.
	sp, err := NewSplitter(f, shards)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, shards)
	gotStats := make([]Stats, shards)
	done := make(chan int)
	for i := range shards {
		go func() {
			rec := &recorder{}
			l := &frameLog{h: rec}
			a, err := NewAnalyzer(cfgFor(cfg, i, shards, l), l)
			if err != nil {
				panic(err)
			}
			l.a = a
			err = a.Run(sp.Shard(i))
			sp.Shard(i).Done()
			got[i], _ = digest(rec)
			got[i] += fmt.Sprint(err) + l.sum()
			gotStats[i] = a.Stats()
			done <- i
		}()
	}
	go sp.Run()
	for range shards {
		<-done
	}
	sp.Close()
	if !slices.Equal(got, want) {
		t.Errorf("shard deliveries or errors differ:\n%q\n%q", want, got)
	}
	ws, gs := MergeShards(wantStats), MergeShards(gotStats)
	if fmt.Sprint(ws) != fmt.Sprint(gs) {
		t.Errorf("stats differ:\nwhole reads %+v\nsplitter    %+v", ws, gs)
	}
}

func cfgFor(cfg Config, shard, shards int, l *frameLog) Config {
	cfg.Shard, cfg.Shards, cfg.Progress = shard, shards, l.progress
	return cfg
}

// TestSplitterShardStopsEarly: a shard that stops reading (its Analyzer
// returned) does not hold up the others, and Close returns.
func TestSplitterShardStopsEarly(t *testing.T) {
	path := genCapture(t, t.TempDir(), 4<<20)
	sp := newTestSplitter(t, path, 2)
	go sp.Run()
	s0, s1 := sp.Shard(0), sp.Shard(1)
	for range 10 {
		if _, _, err := s0.ZeroCopyReadPacketData(); err != nil {
			t.Fatal(err)
		}
	}
	s0.Done()
	n := 0
	for {
		_, _, err := s1.ZeroCopyReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	s1.Done()
	sp.Close()
	if n < 1000 {
		t.Fatalf("shard 1 read %d frames", n)
	}
}

// pcapWithSnaplen is a classic pcap file whose header says snaplen, with
// one 60-byte record.
func pcapWithSnaplen(snaplen uint32) []byte {
	b := []byte("\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	b = binary.LittleEndian.AppendUint32(b, snaplen)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = append(b, "\x01\x00\x00\x00\x00\x00\x00\x00"...)
	b = binary.LittleEndian.AppendUint32(b, 60)
	b = binary.LittleEndian.AppendUint32(b, 60)
	return append(b, make([]byte, 60)...)
}

// TestHostileSnaplen: a header snap length of 0 or over MaxSnaplen reads as
// MaxSnaplen in both readers: the record is read, and pcapgo does not
// allocate the header's 4 GB for its packet buffer.
func TestHostileSnaplen(t *testing.T) {
	for _, sl := range []uint32{0, 0xffffffff, MaxSnaplen + 1} {
		data := pcapWithSnaplen(sl)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f, err := NewReader("x.pcap", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		pkt, _, err := f.ZeroCopyReadPacketData()
		runtime.ReadMemStats(&after)
		if err != nil || len(pkt) != 60 {
			t.Fatalf("snaplen %#x: %d bytes, %v", sl, len(pkt), err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
			t.Errorf("snaplen %#x: reading one packet allocated %d bytes", sl, grew)
		}
		compareReaders(t, data)
	}
	// A record over MaxSnaplen is a broken record in both readers.
	data := pcapWithSnaplen(0xffffffff)
	binary.LittleEndian.PutUint32(data[24+8:], MaxSnaplen+1)
	binary.LittleEndian.PutUint32(data[24+12:], MaxSnaplen+1)
	f, err := NewReader("x.pcap", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.ZeroCopyReadPacketData(); !errors.Is(err, ErrTruncated) {
		t.Fatalf("oversized record: %v", err)
	}
	compareReaders(t, data)
}

// TestSplitterFileShrinks: a mapped file cut shorter during a Splitter run
// ends every shard's run with ErrTruncated instead of a crash.
func TestSplitterFileShrinks(t *testing.T) {
	path := genCapture(t, t.TempDir(), 8<<20)
	sp := newTestSplitter(t, path, 2)
	if err := os.Truncate(path, 2<<20); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for i := range 2 {
		go func() {
			a, err := NewAnalyzer(Config{Shard: i, Shards: 2}, &recorder{})
			if err != nil {
				errs <- err
				return
			}
			err = a.Run(sp.Shard(i))
			sp.Shard(i).Done()
			errs <- err
		}()
	}
	go sp.Run()
	for range 2 {
		if err := <-errs; !errors.Is(err, ErrTruncated) {
			t.Errorf("shard: %v, want ErrTruncated", err)
		}
	}
	sp.Close()
}

// newTestSplitter opens path (it must be mapped) for a Splitter of n shards;
// the file is closed at the end of the test.
func newTestSplitter(t *testing.T, path string, n int) *Splitter {
	t.Helper()
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	sp, err := NewSplitter(f, n)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// TestSplitterIdleFlushFrames: connections that wait behind holes or fall
// silent among others' frames, over many minutes of capture time: each
// shard's idle flushes run at the same frames (mostly another shard's)
// with a Splitter as when it reads every frame.
func TestSplitterIdleFlushFrames(t *testing.T) {
	defer func(n int64) { mmapMinSize = n }(mmapMinSize)
	mmapMinSize = 0
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	c.Step = 2300 * time.Millisecond
	var conns []*capturetest.Conn
	for i := range 24 {
		cli := netip.AddrPortFrom(netip.MustParseAddr("10.7.0.1"), uint16(30000+i))
		conns = append(conns, c.Conn(cli, srv4, capturetest.ConnOptions{MSS: 10}))
	}
	for round := range 40 {
		for i, cn := range conns {
			switch {
			case i%5 == 0 && round > 3*i/5: // silent from some round on: closed idle
			case i%5 == 1 && round%7 == 0: // a hole: bytes wait until flushed
				cn.SendWith(true, []byte(req[:30]), capturetest.SendOptions{Lose: []int{1}})
			default:
				cn.Send(i%2 == 0, []byte(req[:20]))
			}
		}
	}
	for _, idle := range []time.Duration{0, time.Minute, 150 * time.Second} {
		path := filepath.Join(t.TempDir(), "idle.pcap")
		if err := os.WriteFile(path, c.Pcap(), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if !f.Mapped() {
			t.Fatal("not mapped")
		}
		splitterMatches(t, path, f, Config{IdleTimeout: idle}, 2)
		f.Close()
	}
}

// oddConns opens Conns of three kinds in turn: a pointer, a struct held
// in the interface by copy (not pointer-shaped) and a nil pointer of a
// type whose methods take nil receivers (Analyzer.warm, since removed, read
// the memory an interface's data word points to, and had to cope with
// each); every kind counts the bytes it is given.
type oddConns struct {
	n     int
	bytes *atomic.Int64
}

type ptrConn struct{ bytes *atomic.Int64 }

func (c *ptrConn) Data(_ Dir, d []byte, _ []Span) { c.bytes.Add(int64(len(d))) }
func (c *ptrConn) Gap(Dir, int)                   {}
func (c *ptrConn) Close()                         {}

type valConn struct {
	pad   int
	bytes *atomic.Int64
}

func (c valConn) Data(_ Dir, d []byte, _ []Span) { c.bytes.Add(int64(len(d))) }
func (c valConn) Gap(Dir, int)                   {}
func (c valConn) Close()                         {}

type nilConn struct{}

var nilConnBytes atomic.Int64

func (*nilConn) Data(_ Dir, d []byte, _ []Span) { nilConnBytes.Add(int64(len(d))) }
func (*nilConn) Gap(Dir, int)                   {}
func (*nilConn) Close()                         {}

func (h *oddConns) Open(ConnKey) Conn {
	h.n++
	switch h.n % 3 {
	case 0:
		return &ptrConn{h.bytes}
	case 1:
		return valConn{1, h.bytes}
	}
	return (*nilConn)(nil)
}

// TestSplitterOddConns: shards fed by a Splitter, whose Handlers' Conns
// are pointers, values and nil pointers (oddConns), deliver as many bytes
// as shards whose Conns are all pointers.
func TestSplitterOddConns(t *testing.T) {
	path := genCapture(t, t.TempDir(), 4<<20)
	run := func(odd bool) int64 {
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sp, err := NewSplitter(f, 2)
		if err != nil {
			t.Fatal(err)
		}
		nilConnBytes.Store(0)
		var bytes [2]atomic.Int64
		done := make(chan struct{})
		for i := range 2 {
			go func() {
				defer func() { done <- struct{}{} }()
				var h Handler = &oddConns{n: 0, bytes: &bytes[i]}
				if !odd {
					h = handlerFunc(func(ConnKey) Conn { return &ptrConn{&bytes[i]} })
				}
				a, err := NewAnalyzer(Config{Shard: i, Shards: 2}, h)
				if err != nil {
					panic(err)
				}
				if err := a.Run(sp.Shard(i)); err != nil {
					t.Error(err)
				}
				sp.Shard(i).Done()
			}()
		}
		go sp.Run()
		<-done
		<-done
		sp.Close()
		return bytes[0].Load() + bytes[1].Load() + nilConnBytes.Load()
	}
	want, got := run(false), run(true)
	if want == 0 || got != want {
		t.Errorf("odd Conns got %d bytes, pointer Conns %d", got, want)
	}
}

type handlerFunc func(ConnKey) Conn

func (f handlerFunc) Open(k ConnKey) Conn { return f(k) }
