package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cookiewatch/cookiewatch/capture"
	"github.com/cookiewatch/cookiewatch/h2parse"
	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/report"
	"github.com/cookiewatch/cookiewatch/rules"
	"github.com/cookiewatch/cookiewatch/tlsdecrypt"
)

// Decryption with a key log: when keys were given (--tls-keylog, or
// Decryption Secrets Blocks in a pcapng input), every connection also feeds a
// tlsdecrypt.Conn, which drops out at once if the connection's first bytes
// are not a TLS handshake. The application data of each decrypted record goes
// to an inner parser (HTTP/2 when the server chose h2 by ALPN, else
// httpparse's HTTP/1.x), whose messages are judged with tls = true: the
// cleartext rules stay silent, the attribute rules fire, and the finding's
// frame is the one that carried the record's last byte.

// loadKeys reads the key log file (if any) and the Decryption Secrets Blocks
// of the pcapng inputs. It returns nil when neither holds a secret and no
// key log was asked for. Errors never quote a key log line.
func loadKeys(keylog string, files []string) (*tlsdecrypt.KeyLog, error) {
	keys := &tlsdecrypt.KeyLog{}
	if keylog != "" {
		f, err := os.Open(keylog)
		if err != nil {
			return nil, fmt.Errorf("--tls-keylog: %w", err)
		}
		err = keys.Parse(keylog, f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	for _, path := range files {
		if path == "-" {
			continue // standard input cannot be read twice; its blocks are not seen
		}
		f, err := os.Open(path)
		if err != nil {
			continue // the capture reader reports it
		}
		_, err = tlsdecrypt.ReadPcapngSecrets(path, f, keys)
		f.Close()
		if err != nil && errors.Is(err, tlsdecrypt.ErrKeyLog) {
			return nil, err
		}
	}
	if keylog == "" && keys.Len() == 0 {
		return nil, nil
	}
	return keys, nil
}

// tlsConn follows one connection's TLS for the pipeline.
type tlsConn struct {
	p     *pipeline
	info  httpparse.ConnInfo
	dec   *tlsdecrypt.Conn
	h1    *httpparse.Conn
	h2    *h2parse.Conn
	spans []tlsdecrypt.Span // reused
	one   [1]httpparse.Span
}

func newTLSConn(p *pipeline, info httpparse.ConnInfo) *tlsConn {
	t := &tlsConn{p: p, info: info}
	t.dec = tlsdecrypt.NewConn(p.keys, t, &p.tstats)
	return t
}

func (t *tlsConn) data(d capture.Dir, data []byte, spans []capture.Span) {
	if !t.dec.Active() {
		return
	}
	t.spans = t.spans[:0]
	for _, s := range spans {
		t.spans = append(t.spans, tlsdecrypt.Span{Len: s.Len, Frame: s.Frame, Time: s.Time})
	}
	t.dec.Data(int(d), data, t.spans)
}

func (t *tlsConn) gap(d capture.Dir) {
	t.dec.Gap(int(d))
	if t.h1 != nil {
		t.h1.Gap(httpparse.Side(d), -1)
	}
}

func (t *tlsConn) close() {
	t.dec.Close()
	if t.h1 != nil {
		t.h1.Close()
	}
	if t.h2 != nil {
		t.h2.Close()
	}
}

// Plaintext implements tlsdecrypt.Handler: one record's application data.
func (t *tlsConn) Plaintext(dir int, data []byte, frame uint64, when time.Time) {
	if t.h1 == nil && t.h2 == nil {
		h := tlsMessages{t.p}
		if t.dec.ALPN() == "h2" && t.dec.Client() >= 0 {
			t.h2 = h2parse.NewConn(t.info, t.dec.Client(), h, &t.p.hstats)
			t.p.h2conns++
		} else {
			t.h1 = httpparse.NewConn(t.info, h, t.p.limits, &t.p.hstats)
		}
	}
	if t.h2 != nil {
		t.h2.Data(dir, data, frame, when)
		return
	}
	t.one[0] = httpparse.Span{Len: len(data), Frame: frame, Time: when}
	t.h1.Data(httpparse.Side(dir), data, t.one[:])
}

// tlsMessages judges messages decrypted from TLS.
type tlsMessages struct{ p *pipeline }

func (m tlsMessages) Request(_ *httpparse.ConnInfo, req *httpparse.Request) {
	if m.p.tlsHook != nil {
		m.p.tlsHook(&req.Message)
	}
	m.p.add(rules.EvaluateRequest(req, true, rules.Hints{}, m.p.opts))
	m.p.feed.send(corrEvent{frame: req.Frame, client: req.Client, server: req.Server, file: m.p.file, req: req, tls: true})
}

func (m tlsMessages) Response(_ *httpparse.ConnInfo, resp *httpparse.Response) {
	if m.p.tlsHook != nil {
		m.p.tlsHook(&resp.Message)
	}
	m.p.add(rules.EvaluateResponse(resp, true, m.p.opts))
	m.p.feed.send(corrEvent{frame: resp.Frame, client: resp.Client, server: resp.Server, file: m.p.file, resp: resp, tls: true})
}

// tlsSummary reports decryption, or nil when no keys were given.
func tlsSummary(p *pipeline) *report.TLSDecryption {
	if p.keys == nil {
		return nil
	}
	s := p.tstats
	return &report.TLSDecryption{KeyLogEntries: uint64(p.keys.Lines), Connections: s.Conns, Decrypted: s.Decrypted,
		WithoutKeys: s.NoKeys, NoHello: s.NoHello, Unsupported: s.Unsupported, AuthFailures: s.AuthFailures,
		Gaps: s.Gaps, Overruns: s.Overruns, BadRecords: s.BadRecords, Records: s.Records, KeyUpdates: s.KeyUpdates,
		HTTP2: p.h2conns}
}
