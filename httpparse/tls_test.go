package httpparse

import (
	"crypto/tls"
	"reflect"
	"slices"
	"testing"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
)

// tlsRecorder is a recorder that also keeps every TLSHello call.
type tlsRecorder struct {
	recorder
	hellos []TLSInfo
}

func (r *tlsRecorder) TLSHello(_ *ConnInfo, t *TLSInfo) { r.hellos = append(r.hellos, *t) }

// feedChunks hands data to side sd in pieces of chunk bytes (0: whole), each
// piece one frame numbered from frame.
func feedChunks(c *Conn, sd Side, data []byte, chunk int, frame uint64) uint64 {
	for len(data) > 0 {
		n := len(data)
		if chunk > 0 {
			n = min(n, chunk)
		}
		frame++
		c.Data(sd, data[:n], []Span{{Len: n, Frame: frame}})
		data = data[n:]
	}
	return frame
}

// rawHello builds a ClientHello record by hand from extension bytes.
func rawHello(exts []byte) []byte {
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...)
	body = append(body, 0)                // session id
	body = append(body, 0, 2, 0x13, 0x01) // one cipher suite
	body = append(body, 1, 0)             // null compression
	body = append(body, byte(len(exts)>>8), byte(len(exts)))
	body = append(body, exts...)
	hs := append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{22, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

func ext(typ int, data ...byte) []byte {
	return append([]byte{byte(typ >> 8), byte(typ), byte(len(data) >> 8), byte(len(data))}, data...)
}

func TestTLSClientHelloFields(t *testing.T) {
	tls13, err := capturetest.ClientHello(&tls.Config{ServerName: "shop.example", NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	tls12, err := capturetest.ClientHello(&tls.Config{ServerName: "old.example", MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	noSNI, err := capturetest.ClientHello(&tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	grease := rawHello(slices.Concat(
		ext(43, 6, 0x1a, 0x1a, 3, 4, 3, 3), // supported_versions: GREASE, 1.3, 1.2
		ext(0, 0, 8, 0, 0, 5, 'a', '.', 'e', 'x', 'y'),
	))
	tests := []struct {
		name     string
		hello    []byte
		chunk    int // bytes per Data call (TCP segments); 0: one call
		record   int // handshake bytes per TLS record; 0: as generated
		sni      string
		versions []uint16
		alpn     []string
	}{
		{name: "TLS 1.3 shape with SNI and ALPN", hello: tls13, sni: "shop.example", versions: []uint16{0x0304, 0x0303}, alpn: []string{"h2", "http/1.1"}},
		{name: "TLS 1.2 shape, no supported_versions", hello: tls12, sni: "old.example", versions: []uint16{0x0303}},
		{name: "no SNI", hello: noSNI, versions: []uint16{0x0304, 0x0303}},
		{name: "split across segments", hello: tls13, chunk: 7, sni: "shop.example", versions: []uint16{0x0304, 0x0303}, alpn: []string{"h2", "http/1.1"}},
		{name: "split across records", hello: tls13, record: 50, sni: "shop.example", versions: []uint16{0x0304, 0x0303}, alpn: []string{"h2", "http/1.1"}},
		{name: "split across records and segments", hello: tls12, record: 33, chunk: 10, sni: "old.example", versions: []uint16{0x0303}},
		{name: "GREASE versions dropped", hello: grease, sni: "a.exy", versions: []uint16{0x0304, 0x0303}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hello := tt.hello
			if tt.record > 0 {
				hello = capturetest.Refragment(hello, tt.record)
				if len(hello) <= len(tt.hello)+5 {
					t.Fatalf("refragmenting did not add records (%d → %d bytes)", len(tt.hello), len(hello))
				}
			}
			st := &Stats{}
			rec := &tlsRecorder{}
			c := NewConn(testInfo, rec, Limits{}, st)
			last := feedChunks(c, 1, hello, tt.chunk, 0)
			c.Close()
			ti := c.TLS()
			if c.Proto() != ProtoTLS || !ti.ClientHello || len(st.Anomalies) != 0 {
				t.Fatalf("Proto %v ClientHello %v anomalies %v", c.Proto(), ti.ClientHello, st.Anomalies)
			}
			if ti.SNI != tt.sni || c.SNI() != tt.sni || !slices.Equal(ti.Versions, tt.versions) || !slices.Equal(ti.ALPN, tt.alpn) {
				t.Errorf("SNI %q versions %x ALPN %q; want %q %x %q", ti.SNI, ti.Versions, ti.ALPN, tt.sni, tt.versions, tt.alpn)
			}
			if ti.Client != testInfo.Addr[1] || ti.Server != testInfo.Addr[0] {
				t.Errorf("client %v server %v: the hello's sender is the client", ti.Client, ti.Server)
			}
			if ti.HelloFrame != last {
				t.Errorf("hello frame %d, want the last frame %d", ti.HelloFrame, last)
			}
			if len(rec.hellos) != 1 || rec.hellos[0].SNI != tt.sni {
				t.Errorf("TLSHello calls %+v", rec.hellos)
			}
		})
	}
}

func TestTLSServerHelloVersion(t *testing.T) {
	cert, pool, err := capturetest.SelfSigned("shop.example")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		max  uint16
		want uint16
		alpn string
	}{
		{name: "TLS 1.3 chosen in supported_versions", max: tls.VersionTLS13, want: 0x0304},
		{name: "TLS 1.2 chosen in legacy_version, ALPN visible", max: tls.VersionTLS12, want: 0x0303, alpn: "http/1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c2s, s2c, err := capturetest.TLSFlights(
				&tls.Config{ServerName: "shop.example", RootCAs: pool, MaxVersion: tt.max, NextProtos: []string{"http/1.1"}},
				&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			st := &Stats{}
			rec := &tlsRecorder{}
			c := NewConn(testInfo, rec, Limits{}, st)
			feedChunks(c, 0, c2s, 100, 0)
			feedChunks(c, 1, s2c, 100, 1000)
			c.Close()
			ti := c.TLS()
			if !ti.ClientHello || !ti.ServerHello || ti.Version != tt.want || ti.ServerALPN != tt.alpn || len(st.Anomalies) != 0 {
				t.Errorf("hello %v server hello %v version %s ALPN %q anomalies %v; want %s %q",
					ti.ClientHello, ti.ServerHello, VersionName(ti.Version), ti.ServerALPN, st.Anomalies, VersionName(tt.want), tt.alpn)
			}
			if ti.Server != testInfo.Addr[1] || ti.ServerFrame <= 1000 {
				t.Errorf("server %v frame %d", ti.Server, ti.ServerFrame)
			}
			if len(rec.hellos) != 2 || len(rec.log) != 0 {
				t.Errorf("TLSHello calls %d, HTTP log %v", len(rec.hellos), rec.log)
			}
		})
	}
}

func TestTLSBadHellos(t *testing.T) {
	good, err := capturetest.ClientHello(&tls.Config{ServerName: "shop.example"})
	if err != nil {
		t.Fatal(err)
	}
	badSNI := rawHello(ext(0, 0, 9, 0, 0, 5, 'a')) // name list longer than the extension
	trailing := rawHello(ext(43, 3, 3, 4, 3))      // odd supported_versions length
	tests := []struct {
		name    string
		steps   func(c *Conn)
		anomaly string // "" none
		proto   Proto
	}{
		{name: "malformed server_name", steps: func(c *Conn) { c.Data(0, badSNI, nil) }, anomaly: "bad-tls-hello", proto: ProtoTLS},
		{name: "malformed supported_versions", steps: func(c *Conn) { c.Data(0, trailing, nil) }, anomaly: "bad-tls-hello", proto: ProtoTLS},
		{name: "cut by a gap", steps: func(c *Conn) { c.Data(0, good[:60], nil); c.Gap(0, 100) }, anomaly: "tls-hello-truncated", proto: ProtoTLS},
		{name: "cut by end of input", steps: func(c *Conn) { c.Data(0, good[:len(good)-1], nil) }, anomaly: "tls-hello-truncated", proto: ProtoTLS},
		{name: "over the limit", steps: func(c *Conn) {
			// a handshake length far over MaxHeaderBytes (64 here)
			c.Data(0, []byte{22, 3, 1, 0, 200, 1, 0, 1, 0}, nil)
		}, anomaly: "tls-hello-too-large", proto: ProtoTLS},
		{name: "mid-connection application data", steps: func(c *Conn) {
			c.Data(0, []byte{23, 3, 3, 0, 4, 1, 2, 3, 4}, nil)
			c.Data(1, []byte{23, 3, 3, 0, 2, 9, 9}, nil)
		}, proto: ProtoTLS},
		{name: "application data type with a bad version is not TLS", steps: func(c *Conn) {
			c.Data(0, []byte("\x17\x09x\r\n"+getReq), nil)
		}, proto: ProtoHTTP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &Stats{}
			c := NewConn(testInfo, &tlsRecorder{}, Limits{MaxHeaderBytes: 64}, st)
			if tt.name != "over the limit" {
				c = NewConn(testInfo, &tlsRecorder{}, Limits{}, st)
			}
			tt.steps(c)
			c.Close()
			if c.Proto() != tt.proto {
				t.Errorf("Proto %v, want %v", c.Proto(), tt.proto)
			}
			want := map[string]uint64{}
			if tt.anomaly != "" {
				want[tt.anomaly] = 1
			}
			if len(st.Anomalies) != len(want) || st.Anomalies[tt.anomaly] != want[tt.anomaly] {
				t.Errorf("anomalies %v, want %v", st.Anomalies, want)
			}
			if c.TLS().ClientHello {
				t.Errorf("a bad hello was reported as parsed: %+v", c.TLS())
			}
		})
	}
}

func TestVersionName(t *testing.T) {
	for v, want := range map[uint16]string{0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3", 0x7f1c: "0x7f1c"} {
		if got := VersionName(v); got != want {
			t.Errorf("VersionName(%#x) = %q, want %q", v, got, want)
		}
	}
}

// FuzzTLSHello feeds arbitrary bytes after a handshake record header, split
// anywhere: no panic, no hang, the buffer stays within its limit, and the
// hellos are those of the same bytes in one delivery (read in place when
// whole) and in single bytes (always buffered).
func FuzzTLSHello(f *testing.F) {
	f.Add(rawHello(ext(0, 0, 8, 0, 0, 5, 'a', '.', 'e', 'x', 'y')), uint8(0))
	f.Add(rawHello(ext(43, 4, 3, 4, 3, 3)), uint8(3))
	f.Add(rawHello(ext(16, 0, 3, 2, 'h', '2')), uint8(1))
	f.Add([]byte{22, 3, 3, 0, 6, 2, 0, 0, 2, 3, 3}, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		c := NewConn(testInfo, &tlsRecorder{}, Limits{MaxHeaderBytes: 512}, nil)
		k := min(int(split), len(data))
		c.Data(0, data[:k], nil)
		c.Data(0, data[k:], nil)
		if n := len(c.side[0].buf); n > 512 {
			t.Fatalf("buffered %d bytes over the 512 limit", n)
		}
		c.Close()
		whole, bytewise := &tlsRecorder{}, &tlsRecorder{}
		wst, bst := &Stats{}, &Stats{}
		c = NewConn(testInfo, whole, Limits{MaxHeaderBytes: 512}, wst)
		c.Data(0, data, nil)
		c.Close()
		c = NewConn(testInfo, bytewise, Limits{MaxHeaderBytes: 512}, bst)
		for i := range data {
			c.Data(0, data[i:i+1], nil)
		}
		c.Close()
		if !reflect.DeepEqual(whole.hellos, bytewise.hellos) || wst.TLSConns != bst.TLSConns {
			t.Fatalf("whole: %+v %d TLS\nbyte by byte: %+v %d TLS", whole.hellos, wst.TLSConns, bytewise.hellos, bst.TLSConns)
		}
	})
}
