package tlsdecrypt

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
)

// write is one Write call on a recorded connection.
type write struct {
	dir  int // 0 client, 1 server
	data []byte
}

type wireLog struct {
	mu     sync.Mutex
	writes []write
}

type logConn struct {
	net.Conn
	dir int
	log *wireLog
}

func (l *logConn) Write(b []byte) (int, error) {
	l.log.mu.Lock()
	l.log.writes = append(l.log.writes, write{l.dir, append([]byte(nil), b...)})
	l.log.mu.Unlock()
	return l.Conn.Write(b)
}

// session runs a real crypto/tls client and server over loopback TCP: the client
// writes each of reqs and reads the server's reply to each (the server
// answers every read with "reply:" and what it read). It returns the bytes
// each side wrote, in order, and the server's key log.
func session(t *testing.T, client, server *tls.Config, reqs ...string) ([]write, string) {
	t.Helper()
	cert, pool, err := capturetest.SelfSigned("dec.test")
	if err != nil {
		t.Fatal(err)
	}
	var keylog bytes.Buffer
	server.Certificates = []tls.Certificate{cert}
	server.KeyLogWriter = &keylog
	client.RootCAs, client.ServerName = pool, "dec.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	log := &wireLog{}
	tc := tls.Client(&logConn{a, 0, log}, client)
	ts := tls.Server(&logConn{b, 1, log}, server)
	deadline := time.Now().Add(10 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	done := make(chan error, 1)
	go func() {
		for _, r := range reqs {
			buf := make([]byte, len(r))
			if _, err := io.ReadFull(ts, buf); err != nil {
				done <- err
				return
			}
			if _, err := ts.Write(append([]byte("reply:"), buf...)); err != nil {
				done <- err
				return
			}
		}
		done <- ts.Close()
	}()
	buf := make([]byte, 1<<16)
	for _, r := range reqs {
		if _, err := tc.Write([]byte(r)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAtLeast(tc, buf, len("reply:")+len(r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	tc.Close()
	return log.writes, keylog.String()
}

type collect struct{ got [2]strings.Builder }

func (c *collect) Plaintext(dir int, data []byte, frame uint64, _ time.Time) {
	c.got[dir].Write(data)
}

// feed gives a recorded session to a Conn, one write per frame.
func feed(c *Conn, ws []write) {
	for i, w := range ws {
		c.Data(w.dir, w.data, []Span{{Len: len(w.data), Frame: uint64(i + 1)}})
	}
	c.Close()
}

func TestDecryptGoSessions(t *testing.T) {
	tests := []struct {
		name      string
		version   uint16
		suite     uint16
		wantSuite uint16
	}{
		{name: "TLS 1.3 default (AES-128-GCM)", version: tls.VersionTLS13, wantSuite: tls.TLS_AES_128_GCM_SHA256},
		{name: "TLS 1.2 ECDHE-ECDSA AES-128-GCM", version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{name: "TLS 1.2 ECDHE-ECDSA AES-256-GCM", version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		{name: "TLS 1.2 ECDHE-ECDSA ChaCha20-Poly1305", version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
	}
	reqs := []string{"GET /one HTTP/1.1\r\nHost: dec.test\r\n\r\n", strings.Repeat("x", 40000), "last"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := &tls.Config{MinVersion: tt.version, MaxVersion: tt.version}
			sc := &tls.Config{MinVersion: tt.version, MaxVersion: tt.version}
			if tt.suite != 0 {
				cc.CipherSuites, sc.CipherSuites = []uint16{tt.suite}, []uint16{tt.suite}
				tt.wantSuite = tt.suite
			}
			ws, kl := session(t, cc, sc, reqs...)
			keys, err := ParseKeyLog("keylog", strings.NewReader(kl))
			if err != nil {
				t.Fatal(err)
			}
			var st Stats
			h := &collect{}
			c := NewConn(keys, h, &st)
			feed(c, ws)
			if c.suite.id != tt.wantSuite || c.version != tt.version {
				t.Errorf("negotiated %04x/%04x, want %04x/%04x", c.version, c.suite.id, tt.version, tt.wantSuite)
			}
			wantC, wantS := strings.Join(reqs, ""), "reply:"+strings.Join(reqs, "reply:")
			if h.got[0].String() != wantC || h.got[1].String() != wantS {
				t.Errorf("client plaintext %d bytes (want %d), server %d (want %d)", h.got[0].Len(), len(wantC), h.got[1].Len(), len(wantS))
			}
			if st.Decrypted != 1 || st.AuthFailures != 0 || st.NoKeys != 0 || st.Conns != 1 {
				t.Errorf("stats %+v", st)
			}
			if strings.Contains(fmt.Sprintf("%+v", st), "GET") {
				t.Error("stats show plaintext")
			}
		})
	}
}

// TestDecryptFailures: wrong secrets stop the connection (counted as an
// authentication failure), missing secrets count it without keys, a gap ends
// one direction, and no error or count carries a secret.
func TestDecryptFailures(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		ws, kl := session(t, &tls.Config{MaxVersion: v}, &tls.Config{MaxVersion: v}, "hello", "again")
		t.Run(fmt.Sprintf("%04x wrong secret", v), func(t *testing.T) {
			// Flip the last hex digit of every secret.
			var b strings.Builder
			for _, line := range strings.Split(strings.TrimSpace(kl), "\n") {
				last := line[len(line)-1]
				flip := byte('0')
				if last == '0' {
					flip = '1'
				}
				b.WriteString(line[:len(line)-1] + string(flip) + "\n")
			}
			keys, err := ParseKeyLog("k", strings.NewReader(b.String()))
			if err != nil {
				t.Fatal(err)
			}
			var st Stats
			h := &collect{}
			feed(NewConn(keys, h, &st), ws)
			if st.AuthFailures != 1 || h.got[0].Len()+h.got[1].Len() != 0 {
				t.Errorf("stats %+v, plaintext %q %q", st, h.got[0].String(), h.got[1].String())
			}
		})
		t.Run(fmt.Sprintf("%04x no keys", v), func(t *testing.T) {
			var st Stats
			feed(NewConn(&KeyLog{}, &collect{}, &st), ws)
			if st.NoKeys != 1 || st.Decrypted != 0 {
				t.Errorf("stats %+v", st)
			}
		})
		t.Run(fmt.Sprintf("%04x gap in the client direction", v), func(t *testing.T) {
			keys, _ := ParseKeyLog("k", strings.NewReader(kl))
			var st Stats
			h := &collect{}
			c := NewConn(keys, h, &st)
			var client []int
			for i, w := range ws {
				if w.dir == 0 {
					client = append(client, i)
				}
			}
			lost := client[len(client)-2] // the record carrying "again" (the last is close_notify)
			for i, w := range ws {
				if i == lost {
					c.Gap(0)
					continue
				}
				c.Data(w.dir, w.data, []Span{{Len: len(w.data), Frame: uint64(i + 1)}})
			}
			c.Close()
			if st.Gaps != 1 || st.AuthFailures != 0 || h.got[0].String() != "hello" || h.got[1].String() != "reply:helloreply:again" {
				t.Errorf("stats %+v, plaintext %q / %q", st, h.got[0].String(), h.got[1].String())
			}
		})
	}
}

func TestKeyLogErrorsHideSecrets(t *testing.T) {
	secret := strings.Repeat("ab", 48)
	for _, line := range []string{
		"CLIENT_RANDOM " + strings.Repeat("0", 64) + " " + secret[:95], // odd length
		"CLIENT_RANDOM " + strings.Repeat("z", 64) + " " + secret,
		"CLIENT_RANDOM " + strings.Repeat("0", 64) + " " + secret + " extra",
		"CLIENT_RANDOM " + strings.Repeat("0", 64) + " " + secret[:90] + "zz",
	} {
		_, err := ParseKeyLog("f", strings.NewReader("# comment\n"+line+"\n"))
		if err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("error %v, want one naming line 2", err)
		} else if strings.Contains(err.Error(), "abab") || strings.Contains(err.Error(), "0000") {
			t.Errorf("error quotes the line: %v", err)
		}
	}
	k, err := ParseKeyLog("f", strings.NewReader("SERVER_HANDSHAKE_TRAFFIC_SECRET "+strings.Repeat("1", 64)+" "+secret[:64]+"\nEXPORTER_SECRET "+strings.Repeat("1", 64)+" "+secret[:64]+"\n"))
	if err != nil || k.Len() != 1 || k.Lines != 1 || k.Ignored != 1 {
		t.Errorf("k %+v err %v", k, err)
	}
}
