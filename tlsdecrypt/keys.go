package tlsdecrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// suite is what decryption needs of a cipher suite.
type suite struct {
	id     uint16
	keyLen int
	ivLen  int // TLS 1.2: fixed (implicit) IV bytes from the key block; TLS 1.3: always 12
	chacha bool
	hash   func() hash.Hash
	tls13  bool
}

// suites lists the AEAD suites this package decrypts (IANA TLS Cipher Suites).
var suites = map[uint16]suite{
	// TLS 1.3 (RFC 8446 B.4)
	0x1301: {id: 0x1301, keyLen: 16, ivLen: 12, hash: sha256.New, tls13: true},
	0x1302: {id: 0x1302, keyLen: 32, ivLen: 12, hash: sha512.New384, tls13: true},
	0x1303: {id: 0x1303, keyLen: 32, ivLen: 12, chacha: true, hash: sha256.New, tls13: true},
	// TLS 1.2 AES-GCM (RFC 5288, RFC 5289)
	0x009C: {id: 0x009C, keyLen: 16, ivLen: 4, hash: sha256.New},    // RSA_WITH_AES_128_GCM_SHA256
	0x009D: {id: 0x009D, keyLen: 32, ivLen: 4, hash: sha512.New384}, // RSA_WITH_AES_256_GCM_SHA384
	0x009E: {id: 0x009E, keyLen: 16, ivLen: 4, hash: sha256.New},    // DHE_RSA_WITH_AES_128_GCM_SHA256
	0x009F: {id: 0x009F, keyLen: 32, ivLen: 4, hash: sha512.New384}, // DHE_RSA_WITH_AES_256_GCM_SHA384
	0xC02B: {id: 0xC02B, keyLen: 16, ivLen: 4, hash: sha256.New},    // ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
	0xC02C: {id: 0xC02C, keyLen: 32, ivLen: 4, hash: sha512.New384}, // ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
	0xC02F: {id: 0xC02F, keyLen: 16, ivLen: 4, hash: sha256.New},    // ECDHE_RSA_WITH_AES_128_GCM_SHA256
	0xC030: {id: 0xC030, keyLen: 32, ivLen: 4, hash: sha512.New384}, // ECDHE_RSA_WITH_AES_256_GCM_SHA384
	// TLS 1.2 ChaCha20-Poly1305 (RFC 7905)
	0xCCA8: {id: 0xCCA8, keyLen: 32, ivLen: 12, chacha: true, hash: sha256.New}, // ECDHE_RSA
	0xCCA9: {id: 0xCCA9, keyLen: 32, ivLen: 12, chacha: true, hash: sha256.New}, // ECDHE_ECDSA
	0xCCAA: {id: 0xCCAA, keyLen: 32, ivLen: 12, chacha: true, hash: sha256.New}, // DHE_RSA
}

func (s suite) aead(key []byte) (cipher.AEAD, error) {
	if s.chacha {
		return chacha20poly1305.New(key)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// expandLabel is HKDF-Expand-Label (RFC 8446 7.1) with an empty context.
func expandLabel(h func() hash.Hash, secret []byte, label string, n int) []byte {
	info := make([]byte, 0, 4+6+len(label))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(6+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0) // context length
	out, err := hkdf.Expand(h, secret, string(info), n)
	if err != nil { // only for n > 255×hash size, which no caller asks for
		panic("tlsdecrypt: " + err.Error())
	}
	return out
}

// keys13 derives a TLS 1.3 direction's record protection from a traffic secret.
func (s suite) keys13(secret []byte) (cipher.AEAD, []byte, error) {
	a, err := s.aead(expandLabel(s.hash, secret, "key", s.keyLen))
	return a, expandLabel(s.hash, secret, "iv", 12), err
}

// nextSecret13 is the KeyUpdate step (RFC 8446 7.2).
func (s suite) nextSecret13(secret []byte) []byte {
	return expandLabel(s.hash, secret, "traffic upd", s.hash().Size())
}

// prf12 is the TLS 1.2 PRF (RFC 5246 5) with the suite's hash.
func prf12(h func() hash.Hash, secret []byte, label string, seed []byte, n int) []byte {
	ls := append([]byte(label), seed...)
	out := make([]byte, 0, n+64)
	mac := hmac.New(h, secret)
	mac.Write(ls)
	a := mac.Sum(nil) // A(1)
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		mac.Write(ls)
		out = mac.Sum(out)
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
	return out[:n]
}

// keys12 derives both directions' record protection of a TLS 1.2 AEAD suite
// from the master secret (RFC 5246 6.3; AEAD suites have no MAC keys).
func (s suite) keys12(master []byte, clientRandom, serverRandom [32]byte) (client, server dirKeys, err error) {
	seed := append(append([]byte(nil), serverRandom[:]...), clientRandom[:]...)
	kb := prf12(s.hash, master, "key expansion", seed, 2*s.keyLen+2*s.ivLen)
	ck, sk := kb[:s.keyLen], kb[s.keyLen:2*s.keyLen]
	civ, siv := kb[2*s.keyLen:2*s.keyLen+s.ivLen], kb[2*s.keyLen+s.ivLen:]
	if client.aead, err = s.aead(ck); err != nil {
		return
	}
	if server.aead, err = s.aead(sk); err != nil {
		return
	}
	client.iv, server.iv = civ, siv
	return
}

// dirKeys protects one direction's records.
type dirKeys struct {
	aead   cipher.AEAD
	iv     []byte // 12 bytes (TLS 1.3, ChaCha20) or the 4-byte GCM salt (TLS 1.2 AES-GCM)
	seq    uint64
	secret []byte // TLS 1.3 current traffic secret (KeyUpdate)
}
