package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
)

// TestLimitFlags checks that each resource-limit flag reaches its stage:
// the capture is the same, only the flag differs, and the counter it
// governs appears only with the flag.
func TestLimitFlags(t *testing.T) {
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	var conns []*capturetest.Conn
	for i := range 3 { // three connections open at once
		conns = append(conns, c.Conn(netip.AddrPortFrom(hostileClient.Addr(), uint16(5000+i)), hostileServer, capturetest.ConnOptions{MSS: 100}))
	}
	pipelined := strings.Repeat("GET /p HTTP/1.1\r\nHost: shop.example\r\n\r\n", 3)
	conns[0].Send(true, []byte(pipelined))
	// 4000 bytes behind a lost first segment: 40 one-page segments buffered
	conns[1].SendWith(true, []byte("GET /b HTTP/1.1\r\n"+strings.Repeat("X-Pad: 0123456789\r\n", 210)+"\r\n"), capturetest.SendOptions{Lose: []int{1}})
	conns[2].Send(true, []byte("GET /h HTTP/1.1\r\nHost: shop.example\r\nX-Long: "+strings.Repeat("h", 300)+"\r\n\r\n"))
	for _, cn := range conns {
		cn.Send(false, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	}
	for i := range 3 { // first fragments of datagrams that never complete
		big := capturetest.IPPacket(hostileClient, hostileServer, 1, 1, capturetest.TCPFlags{ACK: true}, make([]byte, 1400))
		c.Add(c.Frame(fragments(big, 1400, uint16(i))[0]))
	}
	path := writeCapture(t, "limits.pcap", c.Pcap())
	counters := func(args ...string) map[string]float64 {
		_, _, sum := jsonRun(t, path, args...)
		out := map[string]float64{}
		for _, key := range []string{"skipped", "anomalies"} {
			list, _ := sum[key].([]any)
			for _, s := range list {
				m := s.(map[string]any)
				out[m["name"].(string)] = m["n"].(float64)
			}
		}
		return out
	}
	base := counters()
	for _, tt := range []struct {
		flag, value, counter string
	}{
		{"--max-conns", "2", "tcp-conns-evicted"},
		{"--max-pending", "1", "too-many-pending"},
		{"--max-buffer-conn", "3800", "tcp-buffer-overrun"},
		{"--max-buffer", "3800", "tcp-buffer-overrun"},
		{"--max-header-bytes", "200", "header-too-large"},
		{"--max-fragment-bytes", "2000", "ipv4-fragments-discarded"},
	} {
		t.Run(tt.flag, func(t *testing.T) {
			if base[tt.counter] != 0 {
				t.Fatalf("%s already %v without the flag", tt.counter, base[tt.counter])
			}
			if got := counters(tt.flag, tt.value); got[tt.counter] == 0 {
				t.Errorf("%s %s: no %s counted (%v)", tt.flag, tt.value, tt.counter, got)
			}
		})
	}
}
