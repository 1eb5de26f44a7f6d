package rules

import (
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
)

// hasASCIIUpperBytes is hasASCIIUpper a byte at a time.
func hasASCIIUpperBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// TestHasASCIIUpper: hasASCIIUpper agrees with a byte at a time for every
// byte value at every position of strings of 0 to 20 bytes (each of the
// other bytes lower-case, or 0xff: a byte of 0x80 and above must not
// carry into its neighbour's test), and for random strings; lowerHost
// lower-cases what it must, and returns the others as they are.
func TestHasASCIIUpper(t *testing.T) {
	for n := 1; n <= 20; n++ {
		for _, fill := range []byte{'a', 0xff, 0x7f, '@', '[', 0} {
			for pos := range n {
				b := []byte(strings.Repeat(string(rune(0)), n))
				for i := range b {
					b[i] = fill
				}
				for c := range 256 {
					b[pos] = byte(c)
					s := string(b)
					if got, want := hasASCIIUpper(s), hasASCIIUpperBytes(s); got != want {
						t.Fatalf("%q: %v, want %v", s, got, want)
					}
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		s := string(b)
		if got, want := hasASCIIUpper(s), hasASCIIUpperBytes(s); got != want {
			t.Fatalf("%q: %v, want %v", s, got, want)
		}
	}
	if hasASCIIUpper("") {
		t.Error(`"" has an upper-case letter`)
	}
	for _, c := range []struct{ in, want string }{
		{"shop.example", "shop.example"}, {"Shop.Example.COM:8080", "shop.example.com:8080"},
		{"very-long-host-name.subdomain.example.orG", "very-long-host-name.subdomain.example.org"},
		{"ÉCOLE.example", "école.example"}, {"École.example", "École.example"},
	} {
		if got := lowerHost(c.in); got != c.want {
			t.Errorf("lowerHost(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestHexEncode: hexEncode writes what hex.Encode writes, for every byte
// value in every position of 6 and 8 bytes (newValue's and Fingerprint's).
func TestHexEncode(t *testing.T) {
	for _, n := range []int{1, 6, 8} {
		src := make([]byte, n)
		for pos := range n {
			for b := range 256 {
				src[pos] = byte(b)
				got, want := make([]byte, 2*n), make([]byte, 2*n)
				hexEncode(got, src)
				hex.Encode(want, src)
				if string(got) != string(want) {
					t.Fatalf("%x: %q, want %q", src, got, want)
				}
			}
		}
	}
}
