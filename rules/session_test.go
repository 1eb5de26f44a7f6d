package rules

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
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

// classifyBefore is classify as it was before the built-in tiers were
// cached (classCache): the reference TestClassifyCached holds it to.
func (c Classifier) classifyBefore(name, value string) SessionClass {
	var buf [64]byte
	lower := lowerInto(buf[:], name) // nothing returned holds it: reasons are copies or constants
	base := stripPrefix(lower)
	for _, n := range c.Names {
		if strings.EqualFold(n, name) || strings.EqualFold(n, base) {
			return SessionClass{true, Certain, "policy session name " + n, ""}
		}
	}
	for _, p := range c.Patterns {
		if p.MatchString(name) {
			return SessionClass{true, Certain, "policy session pattern " + p.String(), ""}
		}
	}
	for _, n := range c.NotNames {
		if strings.EqualFold(n, name) || strings.EqualFold(n, base) {
			return SessionClass{false, Certain, "policy non-session name " + n, ""}
		}
	}
	for _, p := range c.NotPatterns {
		if p.MatchString(name) {
			return SessionClass{false, Certain, "policy non-session pattern " + p.String(), ""}
		}
	}
	if k, ok := sessionNameReasons[base]; ok && k.owner != "" {
		return SessionClass{true, Certain, k.reason, k.owner}
	}
	for i, p := range sessionPrefixes {
		if strings.HasPrefix(base, p.prefix) {
			return SessionClass{true, Certain, sessionPrefixReasons[i], p.owner}
		}
	}
	// Drupal: SESS<hex> (SSESS<hex> over HTTPS).
	h, ok := strings.CutPrefix(base, "ssess")
	if !ok {
		h, ok = strings.CutPrefix(base, "sess")
	}
	if ok && len(h) >= 32 && isHex(h) {
		return SessionClass{true, Certain, "name pattern SESS<hex> (Drupal)", "Drupal"}
	}
	// Rails: _<app>_session.
	if len(base) > len("__session") && base[0] == '_' && strings.HasSuffix(base, "_session") {
		return SessionClass{true, Certain, "name pattern _<app>_session (Rails)", "Rails"}
	}
	if k, ok := nonSessionNameReasons[base]; ok {
		return SessionClass{false, Certain, k.reason, ""}
	}
	for i, p := range nonSessionPrefixes {
		if strings.HasPrefix(base, p.prefix) {
			return SessionClass{false, Certain, nonSessionPrefixReasons[i], ""}
		}
	}
	for w, i := nextWord(base, 0); w != ""; w, i = nextWord(base, i) {
		if strings.Contains(w, "csrf") || strings.Contains(w, "xsrf") {
			return SessionClass{false, Firm, "name pattern: word " + w + " (CSRF token, not a session)", ""}
		}
	}
	if w := sessionWord(base); w != "" {
		return SessionClass{true, Firm, "name pattern: word " + w, ""}
	}
	if !c.NoValueShape {
		if bits, ok := randomLooking(value); ok {
			return SessionClass{true, Tentative, "value shape: " + itoa(len(value)) + " characters, about " + itoa(int(bits)) + " bits of entropy", ""}
		}
	}
	return SessionClass{false, Firm, "no session name, pattern or value shape", ""}
}

// classifyAllBefore is Classify over classifyBefore.
func (c Classifier) classifyAllBefore(name, value string) SessionClass {
	cls := c.classifyBefore(name, value)
	if c.All && !cls.Session {
		cls.Session, cls.Confidence = true, Certain
		if cls.Reason == "" {
			cls.Reason = "--all-cookies"
		} else {
			cls.Reason = "--all-cookies (otherwise: " + cls.Reason + ")"
		}
	}
	return cls
}

// TestClassifyCached: classify gives what it gave before builtin's
// answers were cached, for names of every tier (known names and
// prefixes in several spellings, Drupal and Rails patterns, words, CSRF,
// random, non-ASCII, longer than maxCachedName), with values of every
// shape, with and without a policy, --all-cookies and the value tier
// off; every name is classified three times (a miss, then hits), and more
// names than the cache has slots go through it, so entries are replaced
// and names collide.
func TestClassifyCached(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var names []string
	for n := range sessionNames {
		names = append(names, n, strings.ToUpper(n), "__Host-"+n, "__Secure-"+strings.ToUpper(n))
	}
	for n := range nonSessionNames {
		names = append(names, n, strings.ToUpper(n), "__Secure-"+n)
	}
	for _, p := range sessionPrefixes {
		names = append(names, p.prefix+"x9", strings.ToUpper(p.prefix)+"ab")
	}
	for _, p := range nonSessionPrefixes {
		names = append(names, p.prefix+"12", strings.ToUpper(p.prefix))
	}
	names = append(names, "", "SESS"+strings.Repeat("a1", 16), "SSESS"+strings.Repeat("f0", 16), "sess"+strings.Repeat("0", 31),
		"_myapp_session", "__session", "my_csrf_token", "XSRF-TOKEN", "app_auth", "userSessionId", "sid", "SID",
		"sessionÄid", "ÄÖsid", "a\xffb", strings.Repeat("sid_", 20), strings.Repeat("x", maxCachedName), strings.Repeat("y", maxCachedName+1))
	words := []string{"sess", "sid", "auth", "token", "csrf", "user", "id", "pref", "x", "_", "-", ".", "Login", "JWT"}
	for range 3000 {
		var b strings.Builder
		for range 1 + rng.IntN(4) {
			b.WriteString(words[rng.IntN(len(words))])
		}
		names = append(names, b.String())
	}
	values := []string{"", "1", "9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f5a6b7c8d", "GA1.2.1234567890.1700000000", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
	classifiers := []Classifier{{}, {All: true}, {NoValueShape: true},
		{Names: []string{"app_auth", "__Host-Custom"}, NotNames: []string{"sid"},
			Patterns: []*regexp.Regexp{regexp.MustCompile(`^tok`)}, NotPatterns: []*regexp.Regexp{regexp.MustCompile(`(?i)^sess`)}}}
	if len(names) <= classCacheSlots {
		t.Fatalf("%d names: fewer than the cache's slots", len(names))
	}
	for _, c := range classifiers {
		for round := range 3 {
			for i, n := range names {
				v := values[(i+round)%len(values)]
				if got, want := c.Classify(n, v), c.classifyAllBefore(n, v); got != want {
					t.Fatalf("round %d, %+v: Classify(%q, %q) = %+v, before %+v", round, c, n, v, got, want)
				}
				if got, want := c.classify(n, v), c.classifyBefore(n, v); got != want {
					t.Fatalf("round %d, %+v: classify(%q, %q) = %+v, before %+v", round, c, n, v, got, want)
				}
			}
		}
	}
}

// TestClassifyConcurrent: goroutines classifying the same and different
// names at once (the workers and the correlator share the cache) get
// what one alone gets; run with -race.
func TestClassifyConcurrent(t *testing.T) {
	names := []string{"PHPSESSID", "sid", "_ga", "theme", "my_csrf", "userToken", "SESS" + strings.Repeat("ab", 16)}
	for i := range 600 {
		names = append(names, "n"+strings.Repeat("x", i%40)+string(rune('a'+i%26)))
	}
	var c Classifier
	want := make([]SessionClass, len(names))
	for i, n := range names {
		want[i] = c.classifyBefore(n, "")
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Go(func() {
			for r := range 50 {
				for i := range names {
					j := (i*(g+1) + r) % len(names)
					if got := c.classify(names[j], ""); got != want[j] {
						errs <- names[j]
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for n := range errs {
		t.Errorf("%q classified differently with others at once", n)
	}
}

// TestAuthOrReferer: a name strings.EqualFold finds equal to
// Authorization, Proxy-Authorization or Referer passes authOrReferer,
// whatever its case and Unicode runes that fold to letters.
func TestAuthOrReferer(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var names []string
	for _, n := range []string{"Authorization", "Proxy-Authorization", "Referer"} {
		names = append(names, n, strings.ToUpper(n), strings.ToLower(n))
		for i := range n {
			for _, r := range []string{"\u212a", "\u017f", "\u0130", "\u0131", "\u00e5", "\u212b", "x"} {
				names = append(names, n[:i]+r+n[i+1:])
			}
		}
	}
	for range 5000 {
		b := []rune("aAuUtThHoOrRiIzZnNpPxXyYeEfF-\u212a\u017f\u0131\u0130")
		var s strings.Builder
		for range rng.IntN(22) {
			s.WriteRune(b[rng.IntN(len(b))])
		}
		names = append(names, s.String())
	}
	matched := 0
	for _, n := range names {
		eq := strings.EqualFold(n, "Authorization") || strings.EqualFold(n, "Proxy-Authorization") || strings.EqualFold(n, "Referer")
		if eq {
			matched++
		}
		if eq && !authOrReferer(n) {
			t.Errorf("%q folds to one of the three but is ruled out", n)
		}
	}
	if matched < 9 {
		t.Fatalf("only %d names matched", matched)
	}
}
