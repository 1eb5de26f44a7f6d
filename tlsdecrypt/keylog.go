// Package tlsdecrypt decrypts TLS 1.2 and TLS 1.3 connections seen passively,
// given the secrets an endpoint wrote to an NSS key log (SSLKEYLOGFILE,
// crypto/tls Config.KeyLogWriter) or that a pcapng Decryption Secrets Block
// carries. It reassembles TLS records from a connection's two in-order byte
// streams, follows the handshake far enough to know the randoms, the version
// and the cipher suite, derives the traffic keys (TLS 1.2 PRF, TLS 1.3
// HKDF-Expand-Label with handshake and application traffic secrets and
// KeyUpdate) and hands the application data of each record to a Handler with
// the frame that carried the record's last byte.
//
// Supported: TLS 1.3 AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305; TLS 1.2
// (EC)DHE and RSA key exchange with AES-GCM and ChaCha20-Poly1305. Not
// supported: CBC suites, TLS 1.3 0-RTT early data, TLS 1.0/1.1, compression.
//
// Secrets and plaintext are never part of an error, a count or a String
// method: errors name the line number of a bad key log line, never its
// content. Standard library plus golang.org/x/crypto/chacha20poly1305.
package tlsdecrypt

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrKeyLog says a key log could not be used; wrapped errors name the line.
var ErrKeyLog = errors.New("tlsdecrypt: bad key log")

const (
	maxKeyLogLine = 1024    // longer lines are malformed (the longest label + 2×32 + 2×64 hex is < 300)
	maxSecrets    = 1 << 20 // client randoms kept
	maxSecretLen  = 64      // SHA-384 secrets are 48 bytes; 64 leaves room
)

// secrets are the key log entries of one client random.
type secrets struct {
	master                 []byte // TLS 1.2 CLIENT_RANDOM (48 bytes)
	clientHS, serverHS     []byte // TLS 1.3 handshake traffic secrets
	clientApp0, serverApp0 []byte // TLS 1.3 first application traffic secrets
	clientEarly            []byte // TLS 1.3 0-RTT (kept only to say it was there)
}

// KeyLog holds the secrets of a key log by client random. The zero value is
// empty and ready; it is not safe for concurrent writes.
type KeyLog struct {
	m       map[[32]byte]*secrets
	Lines   int // entries accepted
	Ignored int // well-formed lines with labels this package does not use
}

// Len returns how many client randoms have secrets.
func (k *KeyLog) Len() int { return len(k.m) }

func (k *KeyLog) lookup(cr [32]byte) *secrets {
	if k == nil {
		return nil
	}
	return k.m[cr]
}

// ParseKeyLog reads an NSS key log (one "LABEL <client_random hex> <secret
// hex>" per line; '#' comments and blank lines ignored) into k. A malformed
// line is an error naming its line number (never its content), wrapped
// around ErrKeyLog; name prefixes the error (a file name).
func (k *KeyLog) Parse(name string, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxKeyLogLine)
	n := 0
	for sc.Scan() {
		n++
		if err := k.addLine(sc.Text()); err != nil {
			return fmt.Errorf("%w: %s line %d: %v", ErrKeyLog, name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%w: %s line %d: longer than %d bytes", ErrKeyLog, name, n+1, maxKeyLogLine)
		}
		return fmt.Errorf("tlsdecrypt: reading %s: %w", name, err)
	}
	return nil
}

// ParseKeyLog is KeyLog.Parse on a new KeyLog.
func ParseKeyLog(name string, r io.Reader) (*KeyLog, error) {
	k := &KeyLog{}
	if err := k.Parse(name, r); err != nil {
		return nil, err
	}
	return k, nil
}

// addLine adds one key log line. Its errors never quote the line.
func (k *KeyLog) addLine(line string) error {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return nil
	}
	f := strings.Fields(line)
	if len(f) != 3 {
		return errors.New("want three fields: label, client random, secret")
	}
	if len(f[1]) != 64 {
		return errors.New("client random is not 32 bytes of hex")
	}
	var cr [32]byte
	if _, err := hex.Decode(cr[:], []byte(f[1])); err != nil {
		return errors.New("client random is not hex")
	}
	if len(f[2])%2 != 0 || len(f[2]) == 0 || len(f[2]) > 2*maxSecretLen {
		return errors.New("secret has a bad length")
	}
	sec, err := hex.DecodeString(f[2])
	if err != nil {
		return errors.New("secret is not hex")
	}
	if k.m == nil {
		k.m = map[[32]byte]*secrets{}
	}
	s := k.m[cr]
	if s == nil {
		if len(k.m) >= maxSecrets {
			return fmt.Errorf("more than %d client randoms", maxSecrets)
		}
		s = &secrets{}
	}
	switch f[0] {
	case "CLIENT_RANDOM":
		if len(sec) != 48 {
			return errors.New("CLIENT_RANDOM master secret is not 48 bytes")
		}
		s.master = sec
	case "CLIENT_HANDSHAKE_TRAFFIC_SECRET":
		s.clientHS = sec
	case "SERVER_HANDSHAKE_TRAFFIC_SECRET":
		s.serverHS = sec
	case "CLIENT_TRAFFIC_SECRET_0":
		s.clientApp0 = sec
	case "SERVER_TRAFFIC_SECRET_0":
		s.serverApp0 = sec
	case "CLIENT_EARLY_TRAFFIC_SECRET":
		s.clientEarly = sec
	default: // EXPORTER_SECRET, EARLY_EXPORTER_SECRET, RSA, ECH labels…
		k.Ignored++
		return nil
	}
	k.m[cr] = s
	k.Lines++
	return nil
}
