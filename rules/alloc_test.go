package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

// randomTarget builds a request target from pieces that exercise the
// splitting: path segments, ;parameters, queries with & and ;, empty
// parts, escapes, session names in several cases, non-ASCII bytes.
func randomTarget(rng *rand.Rand) string {
	pieces := []string{"/", "/", "a", "cart", ";", ";", "=", "=", "&", "&", "?", "jsessionid", "JSESSIONID",
		"PHPSESSID", "sid", "SiD", "page", "x", "%41", "%zz", "+", "é", "\xff", "session", "sessid", "A1B2C3D4E5F6"}
	var b strings.Builder
	for range rng.IntN(16) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

// urlParamsBefore is urlParams as it was, building slices.
func urlParamsBefore(path, query string) [][2]string {
	var out [][2]string
	for _, seg := range strings.Split(path, "/") {
		_, rest, ok := strings.Cut(seg, ";")
		for ok {
			var p string
			p, rest, ok = strings.Cut(rest, ";")
			if n, v, found := strings.Cut(p, "="); found && n != "" {
				out = append(out, [2]string{n, v})
			}
		}
	}
	for _, kv := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
		n, v, found := strings.Cut(kv, "=")
		if !found || n == "" {
			continue
		}
		if u, err := url.QueryUnescape(n); err == nil {
			n = u
		}
		if u, err := url.QueryUnescape(v); err == nil {
			v = u
		}
		out = append(out, [2]string{n, v})
	}
	return out
}

// redactTargetBefore is RedactTarget as it was, rebuilding every target.
func redactTargetBefore(target string, c Classifier) string {
	if !strings.ContainsAny(target, ";?") {
		return target
	}
	p, q, hasQ := strings.Cut(target, "?")
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		parts := strings.Split(seg, ";")
		for j := 1; j < len(parts); j++ {
			if n, _, ok := strings.Cut(parts[j], "="); ok && c.tokenClass(n).Session {
				parts[j] = n + "=REDACTED"
			}
		}
		segs[i] = strings.Join(parts, ";")
	}
	out := strings.Join(segs, "/")
	if hasQ {
		kvs := strings.Split(q, "&")
		for i, kv := range kvs {
			n, _, ok := strings.Cut(kv, "=")
			if ok && c.tokenClass(n).Session {
				kvs[i] = n + "=REDACTED"
			}
		}
		out += "?" + strings.Join(kvs, "&")
	}
	return out
}

// TestURLParamsAndRedactionSame: the parameters and the redacted target
// are those of the slice-building code they replace, on 50,000 random
// targets, with and without a policy that names more session parameters.
func TestURLParamsAndRedactionSame(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	classifiers := []Classifier{{}, {Names: []string{"page"}, NotNames: []string{"sid"}}}
	redacted := 0
	for range 50000 {
		target := randomTarget(rng)
		path, query, _ := strings.Cut(target, "?")
		var got [][2]string
		urlParams(path, query, func(n, v string) { got = append(got, [2]string{n, v}) })
		if want := urlParamsBefore(path, query); !reflect.DeepEqual(got, want) {
			t.Fatalf("urlParams(%q, %q) = %q, before %q", path, query, got, want)
		}
		for _, c := range classifiers {
			got, want := RedactTarget(target, c), redactTargetBefore(target, c)
			if got != want {
				t.Fatalf("RedactTarget(%q) = %q, before %q", target, got, want)
			}
			if got != target {
				redacted++
			}
		}
	}
	if redacted < 1000 {
		t.Errorf("only %d targets had something redacted: the test does not exercise redaction", redacted)
	}
}

// TestLowerInto: lowerInto is strings.ToLower, for ASCII that fits the
// buffer and for what does not (non-ASCII, invalid UTF-8, too long).
func TestLowerInto(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := "aZ09-_.AzMm\xc3\x89\xff\x80İK"
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(80) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		s := b.String()
		var buf [64]byte
		if got, want := lowerInto(buf[:], s), strings.ToLower(s); got != want {
			t.Fatalf("lowerInto(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestFingerprintSame: Fingerprint is the hash of the joined key it was,
// for hosts in any case, long keys (past the stack buffers) and non-ASCII.
func TestFingerprintSame(t *testing.T) {
	before := func(rule, host, name string) string {
		sum := sha256.Sum256([]byte(rule + "\x00" + strings.ToLower(host) + "\x00" + name))
		return hex.EncodeToString(sum[:8])
	}
	long := strings.Repeat("Ab", 150)
	for _, k := range [][3]string{{"missing-secure", "Shop.Example", "SID"}, {"", "", ""}, {"r", long, "c"},
		{long, "h", long}, {"r", "İSTANBUL.example", "n"}, {"r", "\xffBAD", "n"}} {
		if got, want := Fingerprint(k[0], k[1], k[2]), before(k[0], k[1], k[2]); got != want {
			t.Errorf("Fingerprint(%q) = %s, want %s", k, got, want)
		}
	}
}

// TestValueAndAttributesSame: newValue and newAttributes give the values
// they gave when built field by field, including far-off expiry years.
func TestValueAndAttributesSame(t *testing.T) {
	for _, v := range []string{"", "x", strings.Repeat("9f3c", 40)} {
		sum := sha256.Sum256([]byte(v))
		want := &Value{Length: len(v), Fingerprint: "sha256:" + hex.EncodeToString(sum[:6]), Raw: v}
		if got := newValue(v, true); !reflect.DeepEqual(got, want) {
			t.Errorf("newValue(%q) = %+v, want %+v", v, got, want)
		}
		want.Raw = ""
		if got := newValue(v, false); !reflect.DeepEqual(got, want) {
			t.Errorf("newValue(%q, false) = %+v, want %+v", v, got, want)
		}
	}
	for _, exp := range []time.Time{time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(12345, 6, 7, 8, 9, 10, 0, time.UTC),
		time.Date(-5, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))} {
		c := httpparse.SetCookie{HasMaxAge: true, MaxAge: -3, HasExpires: true, Expires: exp, HasDomain: true, Domain: "d",
			SameSite: httpparse.SameSiteInvalid, SameSiteRaw: "yes", Secure: true}
		a := newAttributes(c)
		if a.Expires != exp.UTC().Format(time.RFC3339) || a.MaxAge == nil || *a.MaxAge != -3 || a.SameSite != "invalid:yes" || a.Domain != "d" {
			t.Errorf("newAttributes(expires %v) = %+v", exp, a)
		}
	}
	if a := newAttributes(httpparse.SetCookie{}); a.MaxAge != nil || a.Expires != "" {
		t.Errorf("newAttributes of a bare cookie = %+v", a)
	}
}

// TestRemediationTable: the fix evaluate looks up is Remediation's for
// every rule and framework, and for an ID outside the table.
func TestRemediationTable(t *testing.T) {
	for i := range catalogue {
		for _, id := range append(frameworkIDs(), "no-such-framework", "") {
			if got, want := remediation(int32(i), id), Remediation(catalogue[i], id); got != want {
				t.Errorf("rule %s, framework %q: %q, want %q", catalogue[i].ID, id, got, want)
			}
		}
	}
}

func frameworkIDs() []string {
	var ids []string
	for _, f := range frameworks {
		ids = append(ids, f.ID)
	}
	return ids
}

// TestRefererShortcut: skipping url.Parse for Referers without ';', '?'
// or '%' loses no observation: on random Referers, those skipped have no
// parameters when parsed as before.
func TestRefererShortcut(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	prefixes := []string{"http://h.example", "https://a.example:8080", "http://[::1]", "//h.example", "h.example", "http://u@h"}
	pieces := []string{"/", "/", "a", "b", ";", "?", "=", "=", "&", "%3B", "%3F", "%3b", " ", "#", "sid", "jsessionid",
		"ABCDEF0123456789", "%zz", "@", "%20", ":"}
	skipped, params := 0, 0
	for range 50000 {
		var b strings.Builder
		b.WriteString(prefixes[rng.IntN(len(prefixes))])
		for range rng.IntN(10) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		v := b.String()
		u, err := url.Parse(v)
		n := 0
		if err == nil && u.Host != "" {
			urlParams(u.EscapedPath(), u.RawQuery, func(string, string) { n++ })
		}
		if !strings.ContainsAny(v, ";?%") {
			skipped++
			if n != 0 {
				t.Fatalf("Referer %q has %d parameters but would be skipped", v, n)
			}
		}
		params += n
	}
	if skipped < 1000 || params < 200 {
		t.Errorf("%d skipped, %d parameters: the test does not exercise both", skipped, params)
	}
	req := &httpparse.Request{Method: "GET", Path: "/", Host: "cdn.example"}
	req.Headers = []httpparse.Header{{Name: "Referer", Value: "http://shop.example/cart;jsessionid=A1B2C3D4E5F6A7B8C9D0"},
		{Name: "Referer", Value: "http://shop.example/plain"}}
	if obs := observeRequest(nil, req, false, Options{}); len(obs) != 1 || obs[0].Kind != KindRefererParam {
		t.Errorf("observations of a request with two Referers: %+v", obs)
	}
}
