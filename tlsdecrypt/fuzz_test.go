package tlsdecrypt

import (
	"crypto/tls"
	"strings"
	"testing"
)

// FuzzConn feeds arbitrary bytes, cut anywhere, as the two directions of a
// connection whose key log holds a real session's secrets: no panic, no
// hang, bounded memory, whatever the records say.
func FuzzConn(f *testing.F) {
	t := &testing.T{}
	ws, kl := session(t, &tls.Config{MaxVersion: tls.VersionTLS13}, &tls.Config{}, "GET / HTTP/1.1\r\n\r\n")
	keys, err := ParseKeyLog("k", strings.NewReader(kl))
	if err != nil {
		f.Fatal(err)
	}
	var c2s, s2c []byte
	for _, w := range ws {
		if w.dir == 0 {
			c2s = append(c2s, w.data...)
		} else {
			s2c = append(s2c, w.data...)
		}
	}
	f.Add(c2s, s2c, uint16(7))
	f.Add([]byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"), []byte("\x17\x03\x03\x00\x01\x00"), uint16(1))
	f.Fuzz(func(t *testing.T, a, b []byte, cut uint16) {
		c := NewConn(keys, &discard{}, nil)
		step := int(cut%512) + 1
		for i := 0; i < max(len(a), len(b)); i += step {
			if i < len(a) {
				c.Data(0, a[i:min(i+step, len(a))], []Span{{Len: step, Frame: uint64(i)}})
			}
			if i < len(b) {
				c.Data(1, b[i:min(i+step, len(b))], nil)
			}
		}
		c.Close()
	})
}
