package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cookiewatch/cookiewatch/capture"
	"github.com/cookiewatch/cookiewatch/capture/capturetest"
	"github.com/cookiewatch/cookiewatch/httpparse"
)

// fuzzCapture turns fuzzer bytes into a pcap: a sequence of records
//
//	flags seqDelta(int16) len payload[len]
//
// flags: bit 0 SYN, 1 ACK, 2 FIN, 3 RST, 4 server to client, 5-6 which of
// three connections (3 is a fourth), 7 the clock goes back 10 s. The
// sequence number is the side's cursor plus seqDelta·1024 (far jumps, gaps
// and overlaps); the cursor then moves past the segment. It returns the
// file, the frame count and the payload bytes sent.
func fuzzCapture(prog []byte) ([]byte, int, int) {
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	var cursor [4][2]uint32
	for k := range cursor {
		cursor[k] = [2]uint32{1000 * uint32(k+1), 900000 * uint32(k+1)}
	}
	sent := 0
	for len(prog) >= 4 {
		fl, delta, n := prog[0], int16(binary.BigEndian.Uint16(prog[1:])), int(prog[3])
		prog = prog[4:]
		n = min(n, len(prog))
		payload := prog[:n]
		prog = prog[n:]
		conn, dir := int(fl>>5&3), int(fl>>4&1)
		cli := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(40000+conn))
		srv := netip.MustParseAddrPort("192.0.2.80:80")
		src, dst := cli, srv
		if dir == 1 {
			src, dst = srv, cli
		}
		seq := cursor[conn][dir] + uint32(int32(delta)*1024)
		tf := capturetest.TCPFlags{SYN: fl&1 != 0, ACK: fl&2 != 0, FIN: fl&4 != 0, RST: fl&8 != 0}
		if fl&0x80 != 0 {
			c.Now = c.Now.Add(-10 * time.Second)
		}
		c.Add(c.Frame(capturetest.IPPacket(src, dst, seq, cursor[conn][1-dir], tf, payload)))
		cursor[conn][dir] = seq + uint32(n)
		if tf.SYN || tf.FIN {
			cursor[conn][dir]++
		}
		sent += n
	}
	return c.Pcap(), len(c.Packets), sent
}

// FuzzPipeline runs the whole pipeline (capture, reassembly, HTTP, rules,
// correlation, JSON report) on a capture built from fuzzer bytes, with small
// limits so eviction, overruns and truncation are reached. Invariants: exit
// 0; every output line is valid UTF-8 JSON; the summary counts every frame;
// no cookie value or header line without --show-values; connections opened
// are closed; bytes delivered never exceed the payload sent.
func FuzzPipeline(f *testing.F) {
	rec := func(fl byte, delta int16, s string) []byte {
		b := []byte{fl, byte(uint16(delta) >> 8), byte(delta), byte(len(s))}
		return append(b, s...)
	}
	join := func(rs ...[]byte) []byte { return bytes.Join(rs, nil) }
	get := "GET / HTTP/1.1\r\nHost: a.example\r\nCookie: PHPSESSID=v4lue\r\n\r\n"
	set := "HTTP/1.1 200 OK\r\nSet-Cookie: sid=v4lue; Path=/\r\nContent-Length: 0\r\n\r\n"
	f.Add(join(rec(1, 0, ""), rec(0x13, 0, ""), rec(2, 0, get), rec(0x12, 0, set), rec(6, 0, ""), rec(0x16, 0, "")))
	f.Add(join(rec(2, 0, get[:20]), rec(2, 1, "zzzz"), rec(2, -1, get[20:]), rec(0x12, 0, set)))
	f.Add(join(rec(0x22, 0, get), rec(0x42, 0, get), rec(0x62, 0, get), rec(0x02, 0, get), rec(0x92, 0, set)))
	f.Add(join(rec(2, 0, "\x16\x03\x01\x00\x30\x01\x00\x00\x2c\x03\x03"), rec(0x12, 0, "\x16\x03\x03\x00\x05\x02\x00")))
	f.Fuzz(func(t *testing.T, prog []byte) {
		file, frames, sent := fuzzCapture(prog)
		var cfg config
		cfg.capture.MaxConns = 2
		cfg.capture.MaxBufferedPagesPerConn = 3
		cfg.capture.MaxBufferedPagesTotal = 5
		cfg.limits = httpparse.Limits{MaxHeaderBytes: 256, MaxPending: 4, MaxScanBytes: 512}
		cfg.opts.Classifier.All = true
		h := newHarness(t, cfg)
		src, err := capture.NewReader("fuzz", bytes.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		for {
			data, ci, err := src.ReadPacketData()
			if err != nil {
				break
			}
			h.a.Packet(src.LinkType(), data, ci)
			h.n++
		}
		o := h.finish() // checks opened == closed and the frame count
		if o.st.DeliveredBytes > uint64(sent) {
			t.Errorf("delivered %d bytes, sent %d", o.st.DeliveredBytes, sent)
		}
		for _, fd := range o.findings {
			if fd.Value.Raw != "" || fd.Line != "" {
				t.Errorf("finding carries a value without --show-values: %+v", fd)
			}
		}
		var stdout, stderr bytes.Buffer
		code := run([]string{"-r", "-", "--format", "json", "--all-cookies", "--max-conns", "2", "--max-buffer-conn", "4000",
			"--max-header-bytes", "256", "--max-pending", "4", "--hosts", "--fail-on", "none"}, bytes.NewReader(file), &stdout, &stderr)
		if code != exitClean {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		if !utf8.Valid(stdout.Bytes()) || !utf8.Valid(stderr.Bytes()) {
			t.Fatalf("output is not valid UTF-8")
		}
		sc := bufio.NewScanner(&stdout)
		sc.Buffer(nil, 1<<24)
		var last map[string]any
		for sc.Scan() {
			last = nil
			if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
				t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
			}
			if v, ok := last["value"].(map[string]any); ok && v["raw"] != nil {
				t.Fatalf("raw value in output: %s", sc.Text())
			}
		}
		if last == nil || last["type"] != "summary" || int(last["packets"].(float64)) != frames {
			t.Fatalf("last record %v, want a summary of %d packets", last, frames)
		}
	})
}
