package correlate

import (
	"regexp"
	"testing"

	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/rules"
)

// TestSetCookieClassByName holds the classification the correlator
// remembers by cookie name (requestClass, setCookieClass) to the
// classifier's own answer for the whole cookie: a request cookie's class and
// a Set-Cookie's without HttpOnly must not depend on the value.
func TestSetCookieClassByName(t *testing.T) {
	names := []string{"sessionid", "PHPSESSID", "theme", "_ga", "csrftoken", "remember_me", "x", "__Host-sid",
		"SESSabcdefabcdefabcdefabcdefabcdefab", "_shop_session", "prefs", "JSESSIONID", "tracking"}
	values := []string{"", "dark", "Zx8Qm2Lr7Vt4Np1Ks9Wd3Hy6Bc5Gf0Aj", "GA1.2.123456789.1700000000", "0123456789abcdef0123456789abcdef"}
	for _, cl := range []rules.Classifier{{}, {All: true}, {NoValueShape: true},
		{Names: []string{"prefs"}, NotNames: []string{"PHPSESSID"}, Patterns: []*regexp.Regexp{regexp.MustCompile("^track")}}} {
		c, err := New(Config{Classifier: cl, Key: []byte("k")})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // remembered the second time
			for _, n := range names {
				for _, v := range values {
					ck := httpparse.Cookie{Name: n, Value: v}
					if got, want := c.requestClass(ck), cl.RequestCookieClass(ck); got != want {
						t.Errorf("%+v: request cookie %s=%s: %+v, want %+v", cl, n, v, got, want)
					}
					for _, httpOnly := range []bool{false, true} {
						sc := httpparse.SetCookie{Name: n, Value: v, HttpOnly: httpOnly, Path: "/"}
						if got, want := c.setCookieClass(sc), cl.SetCookieClass(sc); got != want {
							t.Errorf("%+v: Set-Cookie %s=%s (HttpOnly %v): %+v, want %+v", cl, n, v, httpOnly, got, want)
						}
					}
				}
			}
		}
	}
}
