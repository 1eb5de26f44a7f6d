package report

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestAppendStringAsJSON: appendString writes what encoding/json writes
// for a string, with HTML escaping and without, on long text where its
// eight-bytes-at-a-time path runs, with every byte that needs a look
// anywhere in a word (and runs of plain text between).
func TestAppendStringAsJSON(t *testing.T) {
	pieces := []string{"a", "plain-ascii-text/", "0123456789abcdef", " ", "\"", "\\", "<", ">", "&", "\x00", "\x1f", "\x7f",
		"\n", "\t", "é", "→", "\u2028", "\u2029", "\xff", "\xe2\x80", "🍪", "~", "!", "#"}
	rng := rand.New(rand.NewPCG(7, 8))
	for n := range 20000 {
		var sb strings.Builder
		for range rng.IntN(12) {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := sb.String()
		for _, html := range []bool{false, true} {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(html)
			if err := enc.Encode(s); err != nil {
				t.Fatal(err)
			}
			got := appendString([]byte("x"), s, html)
			if string(got) != "x"+strings.TrimSuffix(want.String(), "\n") {
				t.Fatalf("case %d: appendString(%q, html %v) = %s, want %s", n, s, html, got[1:], want.Bytes())
			}
		}
	}
	// Every byte value in every position of a word.
	for c := range 256 {
		for pos := range 8 {
			b := []byte("abcdefghijkl")
			b[pos] = byte(c)
			s := string(b)
			want, _ := json.Marshal(s) // HTML escaping on
			if got := appendString(nil, s, true); string(got) != string(want) {
				t.Fatalf("byte %#x at %d: %s, want %s", c, pos, got, want)
			}
		}
	}
}

// TestTimeTextAsFormat: timeText writes what t.UTC().Format(TimeFormat)
// writes, for times in any zone, within and across seconds, before 1970,
// at the zero time and outside years 0-9999.
func TestTimeTextAsFormat(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("x", 3600), time.FixedZone("y", -5*3600-1800), time.Local}
	base := []time.Time{time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		{}, time.Date(-3, 1, 1, 0, 0, 0, 5000, time.UTC), time.Date(12345, 6, 7, 8, 9, 10, 11, time.UTC)}
	rng := rand.New(rand.NewPCG(9, 10))
	var tt timeText
	for n := range 20000 {
		tm := base[rng.IntN(len(base))].Add(time.Duration(rng.Int64N(int64(3 * time.Second)))).In(zones[rng.IntN(len(zones))])
		want := tm.UTC().Format(TimeFormat)
		if got := string(tt.append(nil, tm)); got != want {
			t.Fatalf("case %d: %v: %s, want %s", n, tm, got, want)
		}
	}
}
