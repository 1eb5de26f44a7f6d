package rules

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// guessFrameworkBefore is GuessFramework as it was before headerToken:
// the reference TestGuessFrameworkSame holds it to.
func guessFrameworkBefore(owner, server, poweredBy string) FrameworkGuess {
	var weak FrameworkGuess
	for _, o := range ownerFramework {
		if strings.HasPrefix(owner, o.owner) {
			g := FrameworkGuess{o.framework, "cookie name (" + owner + ")"}
			if o.strong {
				return g
			}
			weak = g
			break
		}
	}
	for _, h := range []struct{ name, value string }{{"X-Powered-By", poweredBy}, {"Server", server}} {
		var buf [128]byte
		v := lowerInto(buf[:], h.value)
		for _, t := range headerFramework {
			if strings.Contains(v, t.token) {
				return FrameworkGuess{t.framework, h.name + ": " + clipText(h.value, 60)}
			}
		}
	}
	if weak.ID != "" {
		return weak
	}
	return FrameworkGuess{"generic", "no framework-specific name or header"}
}

// TestGuessFrameworkSame: GuessFramework gives what it gave when it tested
// every token with strings.Contains, for header values holding no token,
// one, several (the first in the list's order wins, wherever it is), the
// start of one, tokens in upper case, over 128 bytes, with non-ASCII, and
// for every owner of the known names.
func TestGuessFrameworkSame(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	values := []string{"", "nginx/1.24.0", "Apache/2.4.57 (Unix)", "gunicorn", "Werkzeug/3.0.1 Python/3.12", "PHP/8.2.1",
		"Express", "ASP.NET", "Microsoft-IIS/10.0", "Kestrel", "Phusion Passenger 6.0", "puma 6.4", "jetty(9.4)",
		"JSP/2.3 Servlet/4.0 Tomcat", "railsnext.js", "next.j", "php", "ph", "Ärger php", "\xff\xfejboss",
		strings.Repeat("x", 200) + "django", strings.Repeat("y", 127) + "flask"}
	var tokens []string
	for _, h := range headerFramework {
		tokens = append(tokens, h.token, strings.ToUpper(h.token), h.token[:len(h.token)-1])
	}
	for range 3000 {
		var b strings.Builder
		for range rng.IntN(5) {
			if rng.IntN(2) == 0 {
				b.WriteString(tokens[rng.IntN(len(tokens))])
			} else {
				b.WriteString([]string{"/", " ", "1.2", "x", "server", "(", "é"}[rng.IntN(7)])
			}
		}
		values = append(values, b.String())
	}
	owners := []string{""}
	for _, o := range sessionNames {
		owners = append(owners, o)
	}
	for _, p := range sessionPrefixes {
		owners = append(owners, p.owner)
	}
	for i, v := range values {
		w := values[(i*7+3)%len(values)]
		o := owners[i%len(owners)]
		for _, args := range [][3]string{{"", v, ""}, {"", "", v}, {"", v, w}, {o, v, w}, {o, "", ""}} {
			if got, want := GuessFramework(args[0], args[1], args[2]), guessFrameworkBefore(args[0], args[1], args[2]); got != want {
				t.Fatalf("GuessFramework(%q, %q, %q) = %+v, before %+v", args[0], args[1], args[2], got, want)
			}
		}
	}
}

func BenchmarkGuessFramework(b *testing.B) {
	for b.Loop() {
		GuessFramework("", "nginx/1.24.0", "")
		GuessFramework("", "Apache-Coyote/1.1", "Servlet/4.0 JSP/2.3")
	}
}

// TestFrameworkIndex: frameworkIndex finds each framework of the table
// (the first with its ID, as the walk over the table did) and no other
// ID; "generic" is the last, which it tries first.
func TestFrameworkIndex(t *testing.T) {
	if frameworks[len(frameworks)-1].ID != "generic" {
		t.Fatalf("the last framework is %q", frameworks[len(frameworks)-1].ID)
	}
	for j, f := range frameworks {
		first := j
		for k := range j {
			if frameworks[k].ID == f.ID {
				first = k
				break
			}
		}
		if got := frameworkIndex(f.ID); got != first {
			t.Errorf("frameworkIndex(%q) = %d, want %d", f.ID, got, first)
		}
		if g, ok := FrameworkByID(f.ID); !ok || g.ID != f.ID || g.Name != frameworks[first].Name {
			t.Errorf("FrameworkByID(%q) = %v, %v", f.ID, g.ID, ok)
		}
	}
	for _, id := range []string{"", "Generic", "generi", "nope", "php "} {
		if got := frameworkIndex(id); got != -1 {
			t.Errorf("frameworkIndex(%q) = %d", id, got)
		}
	}
}
