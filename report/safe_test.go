package report

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// oldSafe is Safe as it was before its ASCII fast path.
func oldSafe(s string, max int) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if !clean {
		q := strconv.QuoteToGraphic(s)
		s = q[1 : len(q)-1]
	}
	if max > 0 && len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// TestSafeFastPaths: Safe and appendSafeTail (which makes a table cell in
// place) give what Safe gave, on text of every kind a cell can hold:
// ASCII, spaces of every sort at either end, controls, DEL, arrows and
// ellipses, wide and combining runes, bidi overrides, U+FFFD and invalid
// UTF-8, cut anywhere.
func TestSafeFastPaths(t *testing.T) {
	pieces := []string{"a", "GET /x", " ", "  ", "→", " → 302", "…", "日本", "e\u0301", "🍪", "\x00", "\t", "\n", "\x7f",
		"\x1b[31m", "\u00a0", "\u2003", "\u0085", "\u202e", "\u200b", "\ufffd", "\xff", "\xe2\x86", "x\xc3", "sha256:0123456789ab (32 bytes)",
		strings.Repeat("p", 40)}
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 20000 {
		var b strings.Builder
		for range rng.IntN(6) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		max := []int{0, 1, 2, 3, 4, 8, 32, 48, 80}[rng.IntN(9)]
		if got, want := Safe(s, max), oldSafe(s, max); got != want {
			t.Fatalf("case %d: Safe(%q, %d) = %q, want %q", n, s, max, got, want)
		}
		for _, trim := range []bool{false, true} {
			want := s
			if trim {
				want = strings.TrimSpace(want)
			}
			cell := oldSafe(want, max)
			want = "prefix|" + cell
			b, plain := appendSafeTail([]byte("prefix|"+s), len("prefix|"), max, trim)
			if got := string(b); got != want {
				t.Fatalf("case %d: appendSafeTail(%q, %d, trim %v) = %q, want %q", n, s, max, trim, got, want)
			}
			// Printable ASCII, when it says so; and it says so of
			// printable ASCII it leaves as it is (a cell escaped or cut
			// is measured in full).
			uncut := s
			if trim {
				uncut = strings.TrimSpace(s)
			}
			if plain && !naivePrintable(cell) || !plain && naivePrintable(s) && cell == uncut {
				t.Fatalf("case %d: appendSafeTail(%q, %d, trim %v) says printable ASCII %v of %q", n, s, max, trim, plain, cell)
			}
		}
	}
}

// naivePrintable reports whether every byte of s is printable ASCII.
func naivePrintable(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// TestPrintablePrefix: the prefix printablePrefix reads a word at a time
// is the one read a byte at a time, for every byte value at every place
// of texts of 0 to 40 bytes (each word's lanes, and the tail), and for
// random texts mostly printable.
func TestPrintablePrefix(t *testing.T) {
	naive := func(c []byte) int {
		i := 0
		for i < len(c) && c[i] >= 0x20 && c[i] <= 0x7e {
			i++
		}
		return i
	}
	for n := range 41 {
		c := []byte(strings.Repeat("a~ Z", 11)[:n])
		if got := printablePrefix(c); got != n {
			t.Fatalf("%q: %d, want %d", c, got, n)
		}
		for at := range n {
			for v := range 256 {
				d := append([]byte(nil), c...)
				d[at] = byte(v)
				if got, want := printablePrefix(d), naive(d); got != want {
					t.Fatalf("%q: %d, want %d", d, got, want)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 100000 {
		c := make([]byte, rng.IntN(40))
		for i := range c {
			c[i] = byte(0x20 + rng.IntN(0x5f))
			if rng.IntN(30) == 0 {
				c[i] = byte(rng.IntN(256))
			}
		}
		if got, want := printablePrefix(c), naive(c); got != want {
			t.Fatalf("%q: %d, want %d", c, got, want)
		}
	}
}
