package rules

import (
	"math"
	"math/bits"
	"strconv"
)

// EntropyBits estimates the entropy of a token in bits: its length times the
// bits of the smallest usual alphabet that holds every character (digits,
// hex, lower- or upper-case alphanumeric, base64, printable ASCII) when the
// characters are spread as a random draw from it would be, else the Shannon
// entropy of the characters seen (repetitive values). It is an estimate from
// one value, not a measurement of the generator, which is why
// weak-session-id has tentative confidence.
func EntropyBits(v string) float64 {
	if v == "" {
		return 0
	}
	// counts is int32 (half the array to clear of int's) and seen marks the
	// bytes present, so the Shannon sum visits only those, still in byte
	// order: the same additions in the same order as a loop over all 256
	// counts, hence the same float64 (results print, and thresholds compare).
	var counts [256]int32
	var seen [4]uint64
	// Each byte's alphabets are looked up (byteClass) instead of tested
	// one by one: every tier holds while all bytes have its bit (all);
	// classOther is set by any byte (anyOf).
	all, anyOf := uint8(0xff), uint8(0)
	for i := 0; i < len(v); i++ {
		c := v[i]
		counts[c]++
		seen[c>>6] |= 1 << (c & 63)
		k := byteClass[c]
		all &= k
		anyOf |= k
	}
	var log2Alphabet float64
	switch {
	case all&classDigit != 0:
		log2Alphabet = log2Of[10]
	case all&(classLowerHex|classUpperHex) != 0:
		log2Alphabet = log2Of[16]
	case all&(classLower|classUpper) != 0:
		log2Alphabet = log2Of[36]
	case all&classBase64 != 0:
		log2Alphabet = log2Of[64]
	case anyOf&classOther != 0:
		log2Alphabet = log2Of[256]
	default:
		log2Alphabet = log2Of[95]
	}
	n := float64(len(v))
	var shannon float64
	// A term depends on the byte's count only, and a value's counts are
	// mostly a few small numbers (a 32-character hex ID: 16 bytes seen, 1
	// to 6 times each), so each count's term is worked out once: the same
	// float64 as before (a term is rounded to float64 before it is
	// subtracted, as it was), for a fraction of the Log2 calls.
	var terms [32]float64
	var known uint32
	for w, m := range seen {
		for m != 0 {
			c := w<<6 | bits.TrailingZeros64(m)
			m &= m - 1
			k := counts[c]
			var term float64
			if k < int32(len(terms)) && known&(1<<k) != 0 {
				term = terms[k]
			} else {
				p := float64(k) / n
				term = float64(p * math.Log2(p))
				if k < int32(len(terms)) {
					terms[k], known = term, known|1<<k
				}
			}
			shannon -= term
		}
	}
	// A sample of n characters shows at most log2(n) bits per character; when
	// the observed spread comes close to that bound, trust the alphabet.
	log2N := 0.0
	if len(v) < len(log2Of) {
		log2N = log2Of[len(v)]
	} else {
		log2N = math.Log2(n)
	}
	ceiling := math.Min(log2Alphabet, log2N)
	if shannon >= 0.85*ceiling {
		return n * log2Alphabet
	}
	return n * shannon
}

// The alphabets of a byte, a bit each (byteClass): classOther marks a
// control or non-ASCII byte, any of which makes a value's alphabet 256.
const (
	classDigit    = 1 << iota // 0-9
	classLowerHex             // 0-9 a-f
	classUpperHex             // 0-9 A-F
	classLower                // 0-9 a-z
	classUpper                // 0-9 A-Z
	classBase64               // 0-9 a-z A-Z - _ + / = %
	classOther                // < 0x20 or >= 0x7f
)

// byteClass holds each byte's alphabets: EntropyBits tested seven
// conditions per byte. With the table (and log2Of), callgrind counted
// 12.8M -> 5.75M instructions in EntropyBits on the 100 MB benchmark
// capture (2 workers).
var byteClass = func() (t [256]uint8) {
	for i := range t {
		c := byte(i)
		isDigit := '0' <= c && c <= '9'
		isLower := 'a' <= c && c <= 'z'
		isUpper := 'A' <= c && c <= 'Z'
		set := func(bit uint8, ok bool) {
			if ok {
				t[i] |= bit
			}
		}
		set(classDigit, isDigit)
		set(classLowerHex, isDigit || 'a' <= c && c <= 'f')
		set(classUpperHex, isDigit || 'A' <= c && c <= 'F')
		set(classLower, isDigit || isLower)
		set(classUpper, isDigit || isUpper)
		set(classBase64, isDigit || isLower || isUpper || c == '-' || c == '_' || c == '+' || c == '/' || c == '=' || c == '%')
		set(classOther, c >= 0x7f || c < 0x20)
	}
	return t
}()

// log2Of[i] is math.Log2(i), the same float64, for the alphabets' sizes
// and the lengths of most values.
var log2Of = func() (t [257]float64) {
	for i := range t {
		t[i] = math.Log2(float64(i))
	}
	return t
}()

func itoa(n int) string { return strconv.Itoa(n) }
