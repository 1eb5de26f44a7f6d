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
	digits, lowerHex, upperHex, lower, upper, b64, other := true, true, true, true, true, true, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		counts[c]++
		seen[c>>6] |= 1 << (c & 63)
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
	ceiling := math.Min(math.Log2(alphabet), math.Log2(n))
	if shannon >= 0.85*ceiling {
		return n * math.Log2(alphabet)
	}
	return n * shannon
}

func itoa(n int) string { return strconv.Itoa(n) }
