package correlate

import (
	"fmt"
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
	values := []string{"", "dark", shapeProbe, "Qw3Er5Ty7Ui9Op1As2Df4Gh6Jk8Lz0XcVb", "GA1.2.123456789.1700000000", "0123456789abcdef0123456789abcdef"}
	for _, cl := range []rules.Classifier{{}, {All: true}, {NoValueShape: true},
		{Names: []string{"prefs"}, NotNames: []string{"PHPSESSID"}, Patterns: []*regexp.Regexp{regexp.MustCompile("^track")}}} {
		c, err := New(Config{Classifier: cl, Key: []byte("k")})
		if err != nil {
			t.Fatal(err)
		}
		for round := range 3 { // remembered the second time; the third with no room left to remember
			if round == 2 {
				c.reqClass = map[string]nameClass{}
				for i := range maxClassNames {
					c.requestClass(httpparse.Cookie{Name: fmt.Sprintf("filler%d", i)})
				}
			}
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

// TestShapeProbe: the classifier takes shapeProbe for a random session
// identifier when the name says nothing (so a name that reaches the shape
// test is told apart by it), and not when the shape test is off.
func TestShapeProbe(t *testing.T) {
	sc := httpparse.SetCookie{Name: "x", Value: shapeProbe, HttpOnly: true}
	if cls := (rules.Classifier{}).SetCookieClass(sc); !cls.Session || cls.Confidence != rules.Tentative {
		t.Errorf("shapeProbe classified %+v, want a session by value shape", cls)
	}
	if cls := (rules.Classifier{NoValueShape: true}).SetCookieClass(sc); cls.Session {
		t.Errorf("shapeProbe with NoValueShape classified %+v, want no session", cls)
	}
	c, err := New(Config{Key: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	byName := func(n string) bool {
		nc, ok := c.class(n)
		if !ok {
			t.Fatalf("%s not remembered", n)
		}
		return nc.byName
	}
	if byName("x") || !byName("sessionid") || !byName("_ga") {
		t.Errorf("byName: x %v, sessionid %v, _ga %v; want false, true, true", byName("x"), byName("sessionid"), byName("_ga"))
	}
}
