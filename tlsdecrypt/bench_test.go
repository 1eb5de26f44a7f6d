package tlsdecrypt

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"
)

type discard struct{ n int }

func (d *discard) Plaintext(_ int, data []byte, _ uint64, _ time.Time) { d.n += len(data) }

// BenchmarkDecrypt measures decrypting recorded sessions (handshake plus
// 1 MiB each way in 16 KiB records, as bulk transfers are sent), from record
// reassembly to the plaintext handed on. b.SetBytes counts ciphertext bytes
// fed, so ns/op and MB/s are per connection of this size.
func BenchmarkDecrypt(b *testing.B) {
	t := &testing.T{}
	chunk := strings.Repeat("c", 16<<10)
	reqs := make([]string, 64)
	for i := range reqs {
		reqs[i] = chunk
	}
	for _, tt := range []struct {
		name    string
		version uint16
		suite   uint16
	}{
		{"TLS1.3-AES128GCM", tls.VersionTLS13, 0},
		{"TLS1.2-AES128GCM", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{"TLS1.2-AES256GCM", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		{"TLS1.2-ChaCha20", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
	} {
		cc, sc := &tls.Config{MinVersion: tt.version, MaxVersion: tt.version}, &tls.Config{MinVersion: tt.version, MaxVersion: tt.version}
		if tt.suite != 0 {
			cc.CipherSuites, sc.CipherSuites = []uint16{tt.suite}, []uint16{tt.suite}
		}
		ws, kl := session(t, cc, sc, reqs...)
		if t.Failed() {
			b.Fatal("recording the session failed")
		}
		keys, err := ParseKeyLog("k", strings.NewReader(kl))
		if err != nil {
			b.Fatal(err)
		}
		total := 0
		for _, w := range ws {
			total += len(w.data)
		}
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(int64(total))
			b.ReportAllocs()
			for b.Loop() {
				d := &discard{}
				feed(NewConn(keys, d, nil), ws)
				if d.n < 2*len(reqs)*len(chunk) {
					b.Fatalf("decrypted %d bytes", d.n)
				}
			}
		})
	}
}
