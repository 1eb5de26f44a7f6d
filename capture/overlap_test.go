//go:build unix

package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
)

// overlapCapture builds connections that retransmit segments with the same
// or other bytes, the first or the second copy arriving as IPv4 fragments
// (whose reassembled payload is not in the file mapping, so it is hashed
// while mapped payloads are compared in place). It returns the capture and
// the number of conflicts it holds.
func overlapCapture() (*capturetest.Capture, uint64) {
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	var want uint64
	// fragmented adds ip as two IPv4 fragments.
	fragmented := func(ip []byte) {
		ip[6] = 0 // clear DF
		payload := ip[20:]
		for i, part := range [][]byte{payload[:16], payload[16:]} {
			h := append([]byte(nil), ip[:20]...)
			binary.BigEndian.PutUint16(h[2:], uint16(20+len(part)))
			fo := uint16(0x2000) // more fragments
			if i == 1 {
				fo = 16 / 8
			}
			binary.BigEndian.PutUint16(h[6:], fo)
			h = append(h, part...)
			binary.BigEndian.PutUint16(h[10:], 0)
			c.Add(ethernet(h, 0x0800))
		}
	}
	for i := range 120 {
		cli := netip.AddrPortFrom(netip.MustParseAddr("10.9.0.1"), uint16(20000+i))
		cn := c.Conn(cli, srv4, capturetest.ConnOptions{MSS: 10})
		other := []byte("XXXXXXXXXX")
		switch i % 6 {
		case 0: // identical retransmission
			cn.SendWith(true, []byte(req), capturetest.SendOptions{Retransmit: []int{2, 5}})
		case 1: // delivered, resent with other bytes
			cn.SendWith(true, []byte(req), capturetest.SendOptions{Overlap: map[int][]byte{6: other}})
			want++
		case 2: // waiting behind a hole, resent with other bytes
			seq := cn.Seq(true)
			cn.SendWith(true, []byte(req), capturetest.SendOptions{Lose: []int{1}})
			c.Add(c.Frame(capturetest.IPPacket(cli, srv4, seq+10, 1, capturetest.TCPFlags{ACK: true}, other)))
			c.Add(c.Frame(capturetest.IPPacket(cli, srv4, seq, 1, capturetest.TCPFlags{ACK: true}, []byte(req[:10]))))
			want++
		case 3, 4: // first copy fragmented (hashed), second mapped: other bytes, then the same
			seq := cn.Seq(true)
			body := []byte(req[:40])
			fragmented(capturetest.IPPacket(cli, srv4, seq, 1, capturetest.TCPFlags{ACK: true}, body))
			again := body
			if i%6 == 3 {
				again = []byte("YYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY")
				want++
			}
			c.Add(c.Frame(capturetest.IPPacket(cli, srv4, seq, 1, capturetest.TCPFlags{ACK: true}, again)))
		case 5: // first copy mapped, second fragmented with other bytes
			seq := cn.Seq(true)
			c.Add(c.Frame(capturetest.IPPacket(cli, srv4, seq, 1, capturetest.TCPFlags{ACK: true}, []byte(req[:40]))))
			fragmented(capturetest.IPPacket(cli, srv4, seq, 1, capturetest.TCPFlags{ACK: true}, []byte("ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ")))
			want++
		}
	}
	return c, want
}

// TestOverlapConflictsMapped: conflicts counted while reading a mapped file
// (payloads compared in the mapping, Analyzer and Splitter) equal those
// counted on the same frames without a mapping (every payload hashed), and
// the capture's known number.
func TestOverlapConflictsMapped(t *testing.T) {
	defer func(n int64) { mmapMinSize = n }(mmapMinSize)
	mmapMinSize = 0
	c, want := overlapCapture()
	path := filepath.Join(t.TempDir(), "overlap.pcap")
	if err := os.WriteFile(path, c.Pcap(), 0o644); err != nil {
		t.Fatal(err)
	}
	results := map[string]string{}

	// Frames fed one by one: nothing is mapped, every payload is hashed.
	rec := &recorder{}
	a, err := NewAnalyzer(Config{}, rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Packets {
		a.Packet(layers.LinkTypeEthernet, p.Data, p.CI)
	}
	a.Finish()
	st := a.Stats()
	if st.OverlapConflicts != want || st.Reassembled == 0 {
		t.Fatalf("unmapped: %d conflicts (want %d), %d datagrams reassembled", st.OverlapConflicts, want, st.Reassembled)
	}
	d, _ := digest(rec)
	results["unmapped"] = fmt.Sprint(d, st.OverlapConflicts, st.OverlapBytes)

	// The mapped file, one Analyzer.
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Mapped() {
		t.Fatal("not mapped")
	}
	rec = &recorder{}
	if a, err = NewAnalyzer(Config{}, rec); err != nil {
		t.Fatal(err)
	}
	if err := a.Run(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	st = a.Stats()
	d, _ = digest(rec)
	results["mapped"] = fmt.Sprint(d, st.OverlapConflicts, st.OverlapBytes)

	// A Splitter and 2 shards: the merged count (the digests are per shard,
	// so compare counts only).
	for _, shards := range []int{2, 3} {
		sp := newTestSplitter(t, path, shards)
		stats := make([]Stats, shards)
		done := make(chan struct{})
		for i := range shards {
			go func() {
				defer func() { done <- struct{}{} }()
				a, err := NewAnalyzer(Config{Shard: i, Shards: shards}, &recorder{})
				if err != nil {
					panic(err)
				}
				if err := a.Run(sp.Shard(i)); err != nil {
					panic(err)
				}
				sp.Shard(i).Done()
				stats[i] = a.Stats()
			}()
		}
		go sp.Run()
		for range shards {
			<-done
		}
		sp.Close()
		if got := MergeShards(stats).OverlapConflicts; got != want {
			t.Errorf("splitter, %d shards: %d conflicts, want %d", shards, got, want)
		}
	}
	if results["mapped"] != results["unmapped"] {
		t.Errorf("mapped %s\nunmapped %s", results["mapped"], results["unmapped"])
	}
}
