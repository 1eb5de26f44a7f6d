package rules

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestNextWord: the words nextWord walks are strings.FieldsFunc's (what
// classify split names with before), for names with separators, upper
// case, UTF-8 and invalid UTF-8.
func TestNextWord(t *testing.T) {
	fields := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9') })
	}
	rng := rand.New(rand.NewPCG(5, 6))
	names := []string{"", "_", "a", "__host-sid", "my_app.sess-id", "x--y", "sessionÄid", "a\xffb\xc3", "ÄÖ", "9z"}
	const alphabet = "az09_-.AZ\xc3\x84\xff "
	for range 5000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		names = append(names, b.String())
	}
	for _, s := range names {
		var got []string
		for w, i := nextWord(s, 0); w != ""; w, i = nextWord(s, i) {
			got = append(got, w)
		}
		if want := fields(s); !slices.Equal(got, want) {
			t.Fatalf("words of %q: %q, want %q", s, got, want)
		}
	}
}

// TestKnownReasons: the reasons made once are the ones classify built for
// each cookie before, and classify gives them.
func TestKnownReasons(t *testing.T) {
	for i, p := range sessionPrefixes {
		if want := "session cookie name prefix " + p.prefix + " (" + p.owner + ")"; sessionPrefixReasons[i] != want {
			t.Errorf("%q, want %q", sessionPrefixReasons[i], want)
		}
	}
	for i, p := range nonSessionPrefixes {
		if want := "known non-session cookie prefix " + p.prefix + ": " + p.owner; nonSessionPrefixReasons[i] != want {
			t.Errorf("%q, want %q", nonSessionPrefixReasons[i], want)
		}
	}
	var c Classifier
	for n, owner := range sessionNames {
		if got := c.Classify(strings.ToUpper(n), ""); got.Reason != "known session cookie name ("+owner+")" || got.Owner != owner || !got.Session {
			t.Errorf("%s: %+v", n, got)
		}
	}
	for n, what := range nonSessionNames {
		got := c.Classify(n, "")
		if _, session := sessionNames[n]; session {
			continue
		}
		if got.Session || got.Reason != "known non-session cookie: "+what {
			t.Errorf("%s: %+v", n, got)
		}
	}
}
