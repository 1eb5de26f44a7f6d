package rules

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// entropyBitsBefore is EntropyBits as it was before it counted into int32s
// and summed over the bytes seen only: the reference TestEntropyBitsSame
// holds the new one to, bit for bit.
func entropyBitsBefore(v string) float64 {
	if v == "" {
		return 0
	}
	var counts [256]int
	digits, lowerHex, upperHex, lower, upper, b64, other := true, true, true, true, true, true, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		counts[c]++
		isDigit := '0' <= c && c <= '9'
		isLower := 'a' <= c && c <= 'z'
		isUpper := 'A' <= c && c <= 'Z'
		digits = digits && isDigit
		lowerHex = lowerHex && (isDigit || 'a' <= c && c <= 'f')
		upperHex = upperHex && (isDigit || 'A' <= c && c <= 'F')
		lower = lower && (isDigit || isLower)
		upper = upper && (isDigit || isUpper)
		b64 = b64 && (isDigit || isLower || isUpper || c == '-' || c == '_' || c == '+' || c == '/' || c == '=' || c == '%')
		other = other || c >= 0x7f || c < 0x20
	}
	var alphabet float64
	switch {
	case digits:
		alphabet = 10
	case lowerHex || upperHex:
		alphabet = 16
	case lower || upper:
		alphabet = 36
	case b64:
		alphabet = 64
	case other:
		alphabet = 256
	default:
		alphabet = 95
	}
	n := float64(len(v))
	var shannon float64
	for _, k := range counts {
		if k > 0 {
			p := float64(k) / n
			shannon -= p * math.Log2(p)
		}
	}
	ceiling := math.Min(math.Log2(alphabet), math.Log2(n))
	if shannon >= 0.85*ceiling {
		return n * math.Log2(alphabet)
	}
	return n * shannon
}

// TestEntropyBitsSame: the estimate is the same float64 as before for
// values of every alphabet, length and repetitiveness, including bytes
// from each 64-byte word of the seen bitmap (0x00, 0x7f, 0xff).
func TestEntropyBitsSame(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabets := []string{
		"0123456789", "0123456789abcdef", "0123456789ABCDEF", "abcdefghijklmnopqrstuvwxyz0123456789",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz-_+/=%",
		" !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~abcXYZ019", "\x00\x01\x1f\x7f\x80\xc3\xff a0",
		"ab", "a",
	}
	vals := []string{"", "a", "\xff", "\x00", "aaaaaaaaaaaaaaaaaaaaaaaa", "GA1.2.1234567890.1700000000",
		"9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f", strings.Repeat("ab", 5000)}
	for range 20000 {
		a := alphabets[rng.IntN(len(alphabets))]
		n := 1 + rng.IntN(80)
		if rng.IntN(20) == 0 {
			n = 1 + rng.IntN(5000)
		}
		var b strings.Builder
		for range n {
			b.WriteByte(a[rng.IntN(len(a))])
		}
		vals = append(vals, b.String())
	}
	for _, v := range vals {
		got, want := EntropyBits(v), entropyBitsBefore(v)
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("EntropyBits(%q) = %v, before %v", v, got, want)
		}
	}
}

func BenchmarkEntropyBits(b *testing.B) {
	v := "9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f"
	for b.Loop() {
		EntropyBits(v)
	}
}
