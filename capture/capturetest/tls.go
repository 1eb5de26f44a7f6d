package capturetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"
)

// SelfSigned returns a self-signed ECDSA certificate for names (DNS names or
// IP addresses), valid from an hour ago for a day, and a pool that trusts it.
func SelfSigned(names ...string) (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("capturetest: key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "cookiewatch test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("capturetest: certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("capturetest: certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// recordingConn records what is written through it.
type recordingConn struct {
	net.Conn
	mu      sync.Mutex
	written []byte
}

func (r *recordingConn) Write(b []byte) (int, error) {
	r.mu.Lock()
	r.written = append(r.written, b...)
	r.mu.Unlock()
	return r.Conn.Write(b)
}

// TLSFlights runs a real crypto/tls handshake between a client and a server
// over net.Pipe and returns the bytes each side wrote until the handshake
// completed: c2s starts with the ClientHello, s2c with the ServerHello.
func TLSFlights(client, server *tls.Config) (c2s, s2c []byte, err error) {
	a, b := net.Pipe()
	ca, sb := &recordingConn{Conn: a}, &recordingConn{Conn: b}
	tc, ts := tls.Client(ca, client), tls.Server(sb, server)
	deadline := time.Now().Add(10 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	errs := make(chan error, 1)
	go func() {
		err := ts.Handshake()
		if err == nil {
			// TLS 1.3: the server's session tickets follow the handshake;
			// read the client's close so the pipe drains.
			ts.Read(make([]byte, 1))
		}
		errs <- err
	}()
	cerr := tc.Handshake()
	tc.Close()
	serr := <-errs
	b.Close()
	if err := errors.Join(cerr, serr); err != nil {
		return nil, nil, fmt.Errorf("capturetest: TLS handshake: %w", err)
	}
	ca.mu.Lock()
	sb.mu.Lock()
	defer ca.mu.Unlock()
	defer sb.mu.Unlock()
	return ca.written, sb.written, nil
}

// ClientHello returns the first flight of a crypto/tls client with config
// cfg: the records of its ClientHello, as they would cross the wire.
func ClientHello(cfg *tls.Config) ([]byte, error) {
	a, b := net.Pipe()
	ca := &recordingConn{Conn: a}
	done := make(chan struct{})
	go func() { // read the hello, then hang up
		defer close(done)
		buf := make([]byte, 64<<10)
		b.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _ := b.Read(buf)
		for n > 0 && !completeRecords(ca.snapshot()) {
			m, err := b.Read(buf)
			if err != nil {
				break
			}
			n += m
		}
		b.Close()
	}()
	_ = tls.Client(ca, cfg).Handshake() // fails when the peer hangs up; the hello is written
	<-done
	out := ca.snapshot()
	if len(out) < 5 || out[0] != 22 {
		return nil, fmt.Errorf("capturetest: no ClientHello written (%d bytes)", len(out))
	}
	return out, nil
}

func (r *recordingConn) snapshot() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.written...)
}

// completeRecords reports whether b is a whole number of TLS records.
func completeRecords(b []byte) bool {
	for len(b) >= 5 {
		l := int(b[3])<<8 | int(b[4])
		if len(b) < 5+l {
			return false
		}
		b = b[5+l:]
	}
	return len(b) == 0
}

// Refragment rewrites the leading handshake records of a flight so that no
// record carries more than size bytes of handshake data (RFC 8446 5.1 allows
// a handshake message to span records); the bytes after them are kept as they are.
func Refragment(flight []byte, size int) []byte {
	var hs []byte
	rest := flight
	var hdr []byte
	for len(rest) >= 5 && rest[0] == 22 {
		l := int(rest[3])<<8 | int(rest[4])
		if len(rest) < 5+l {
			break
		}
		hdr = rest[:3]
		hs = append(hs, rest[5:5+l]...)
		rest = rest[5+l:]
	}
	if hdr == nil || size <= 0 {
		return append([]byte(nil), flight...)
	}
	var out []byte
	for len(hs) > 0 {
		n := min(size, len(hs))
		out = append(out, hdr[0], hdr[1], hdr[2], byte(n>>8), byte(n))
		out = append(out, hs[:n]...)
		hs = hs[n:]
	}
	return append(out, rest...)
}
