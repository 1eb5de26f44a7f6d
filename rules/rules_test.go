package rules

import (
	"hash/maphash"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

var testNow = sampleTime

func TestCatalogue(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range catalogue {
		t.Run(r.ID, func(t *testing.T) {
			if r.ID == "" || seen[r.ID] {
				t.Fatalf("empty or duplicate rule ID %q", r.ID)
			}
			seen[r.ID] = true
			if r.CWE == 0 || r.Severity == SeverityInvalid || r.Confidence == ConfidenceInvalid || r.Scope == ScopeInvalid {
				t.Errorf("rule %s: CWE %d, severity %v, confidence %v, scope %v: none may be zero", r.ID, r.CWE, r.Severity, r.Confidence, r.Scope)
			}
			if r.Title == "" || r.Explanation == "" || r.Fix == "" || r.Check == nil {
				t.Errorf("rule %s: title, explanation, fix and check are required", r.ID)
			}
			if len(r.Fires) == 0 || len(r.Silent) == 0 {
				t.Errorf("rule %s needs samples that must fire and samples that must not", r.ID)
			}
			fires := func(o Observation) bool { return r.applies(&o) }
			for _, s := range r.Fires {
				if !slices.ContainsFunc(sampleObservations(s, Options{}), fires) {
					t.Errorf("rule %s does not fire on %q", r.ID, s)
				}
			}
			for _, s := range r.Silent {
				if slices.ContainsFunc(sampleObservations(s, Options{}), fires) {
					t.Errorf("rule %s fires on %q", r.ID, s)
				}
			}
		})
	}
	for _, f := range frameworks {
		for s := SettingTLS; s <= SettingIDLength; s++ {
			if f.Fixes[s] == "" {
				t.Errorf("framework %s has no fix for setting %d", f.ID, s)
			}
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name, cookie, value string
		all, want           bool
		reason              string // substring of the reason
	}{
		{"PHP", "PHPSESSID", "", false, true, "PHP"},
		{"Java lower case", "jsessionid", "", false, true, "Java"},
		{"ASP.NET", "ASP.NET_SessionId", "", false, true, "ASP.NET"},
		{"classic ASP prefix", "ASPSESSIONIDQQGGGNCG", "", false, true, "Classic ASP"},
		{"Django", "sessionid", "", false, true, "Django"},
		{"Flask", "session", "", false, true, "Flask"},
		{"Express", "connect.sid", "", false, true, "Express"},
		{"Laravel", "laravel_session", "", false, true, "Laravel"},
		{"Rails app session", "_shop_session", "", false, true, "Rails"},
		{"Drupal", "SESS0123456789abcdef0123456789abcdef", "", false, true, "Drupal"},
		{"Drupal HTTPS", "SSESS0123456789abcdef0123456789abcdef", "", false, true, "Drupal"},
		{"ColdFusion", "CFTOKEN", "", false, true, "ColdFusion"},
		{"SSO product", "SMSESSION", "", false, true, "SiteMinder"},
		{"host prefix stripped", "__Host-SID", "", false, true, "generic"},
		{"secure prefix stripped", "__Secure-sessionid", "", false, true, "Django"},
		{"name word sess", "user_sess", "", false, true, "word sess"},
		{"name word token", "auth-token", "", false, true, "word auth"},
		{"name word login", "wp_login", "", false, true, "word login"},
		{"camel-free word sid", "app.sid", "", false, true, "word sid"},
		{"value shape", "x", "Q2hhbmdlIHRoaXMgc2VjcmV0IGtleSBub3cgcGxlYXNl", false, true, "value shape"},
		{"Adobe s_sess is not ours", "s_sess", "%20s_cc%3Dtrue%3B", false, false, "Adobe"},
		{"NetScaler persistence", "NSC_ozdbewjq3.gxnsn.ofu", "ffffffff0948130245525d5f4f58455e445a4a423660", false, false, "NetScaler"},
		{"analytics", "_ga", "GA1.2.1234567890.1700000000", false, false, "Google Analytics"},
		{"GA4", "_ga_ABC123", "GS1.1.1700000000.1.1.1700000000.0.0.0", false, false, "analytics"},
		{"Hotjar session is not ours", "_hjSession_123456", "eyJpZCI6IjEyMzQ1Njc4OTAxMjM0NTY3ODkwIn0=", false, false, "Hotjar"},
		{"preference", "theme", "dark", false, false, "preference"},
		{"language", "lang", "en", false, false, "preference"},
		{"consent", "OptanonConsent", "isGpcEnabled=0&datestamp=Mon+Jan+01+2024", false, false, "consent"},
		{"Heroku affinity", "heroku-session-affinity", "ACyDaANoA24AAAAAAAAA", false, false, "affinity"},
		{"AWS ALB", "AWSALB", "Xs8ZnQ1k1hRjQz9cXm1n2b3v4c5x6z7a8s9d0f1g2h3j4k5l6", false, false, "affinity"},
		{"CSRF token is not a session", "csrftoken", "Zx8ZnQ1k1hRjQz9cXm1n2b3v4c5x6z7a", false, false, "CSRF"},
		{"F5 persistence", "BIGipServerpool_web", "1677787402.36895.0000", false, false, "F5"},
		{"CSRF word beats value shape", "__Host-csrf", "Hq8Wm3Np5Rt7Vx9Za2Bc4De6Fg8Hj0Kl", false, false, "CSRF"},
		{"sess prefix alone is not Drupal", "sessionaffinity", "", false, true, "word sessionaffinity"},
		{"bare _session is not Rails", "_session", "", false, true, "word session"},
		{"plain tracking value", "visitor", "1700000000", false, false, "no session"},
		{"short value", "prefs", "abc", false, false, "no session"},
		{"all-cookies keeps reason", "theme", "dark", true, true, "otherwise: known non-session cookie: preference"},
		{"all-cookies nameless", "", "", true, true, "--all-cookies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classifier{All: tt.all}.Classify(tt.cookie, tt.value)
			if got.Session != tt.want {
				t.Errorf("Classify(%q, %q) = %+v, want session=%v", tt.cookie, tt.value, got, tt.want)
			}
			if !strings.Contains(got.Reason, tt.reason) || got.Confidence == ConfidenceInvalid {
				t.Errorf("Classify(%q) reason %q (confidence %v), want it to mention %q", tt.cookie, got.Reason, got.Confidence, tt.reason)
			}
		})
	}
}

func TestEntropyBits(t *testing.T) {
	tests := []struct {
		name     string
		v        string
		min, max float64
	}{
		{"empty", "", 0, 0},
		{"repeated", "aaaaaaaaaaaaaaaaaaaaaaaa", 0, 1},
		{"alternating", "abababababababababababab", 20, 30},
		{"32 hex random", "9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f", 120, 130},
		{"16 alphanumeric random", "Zx8ZnQ1k1hRjQz9c", 80, 100},
		{"timestamp", "20240101120000", 0, 40},
		{"PHP 26 chars base32", "u7v2j3k9m0q1r5s8t4w6x0y2z3", 120, 140},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EntropyBits(tt.v); got < tt.min || got > tt.max {
				t.Errorf("EntropyBits(%q) = %.1f, want %.0f..%.0f", tt.v, got, tt.min, tt.max)
			}
		})
	}
}

func respWith(lines ...string) *httpparse.Response {
	req := &httpparse.Request{Method: "GET", Target: "/login", Path: "/login", Host: "shop.example"}
	r := &httpparse.Response{Status: 200, Request: req}
	r.Client = netip.MustParseAddrPort("10.0.0.2:51000")
	r.Server = netip.MustParseAddrPort("192.0.2.80:80")
	r.Frame, r.Time = 7, testNow
	for _, l := range lines {
		if name, v, ok := strings.Cut(l, ": "); ok && (name == "Server" || name == "X-Powered-By") {
			r.Headers = append(r.Headers, httpparse.Header{Name: name, Value: v})
			continue
		}
		r.SetCookies = append(r.SetCookies, httpparse.ParseSetCookie(l))
	}
	return r
}

func ruleIDs(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule+":"+f.Cookie)
	}
	return out
}

// hasRule reports whether fs has a finding of rule for cookie, and its severity.
func hasRule(fs []Finding, rule, cookie string) (Severity, bool) {
	for _, f := range fs {
		if f.Rule == rule && f.Cookie == cookie {
			return f.Severity, true
		}
	}
	return 0, false
}

// TestFrameworkDefaults runs real Set-Cookie lines as frameworks emit them
// with default settings (taken from each framework's documented defaults and
// source) and checks the rules that must and must not fire.
func TestFrameworkDefaults(t *testing.T) {
	tests := []struct {
		name        string
		lines       []string
		framework   string
		fire, quiet []string
	}{
		{"Flask default", []string{"Server: Werkzeug/3.0.1 Python/3.12.1",
			"session=eyJ1c2VyIjoiYWxpY2UifQ.ZmFrZQ.c2lnbmF0dXJlLWJ5dGVz; HttpOnly; Path=/"}, "flask",
			[]string{"cleartext-set-cookie", "missing-secure", "missing-samesite", "no-host-prefix", "default-session-name"},
			[]string{"missing-httponly", "persistent-session", "weak-session-id"}},
		{"Django default", []string{"sessionid=q8x0wzb1l2m3n4o5p6r7s8t9u0v1w2x3; expires=Sun, 15 Nov 2026 12:00:00 GMT; HttpOnly; Max-Age=1209600; Path=/; SameSite=Lax"}, "django",
			[]string{"missing-secure", "persistent-session", "long-lived-session"},
			[]string{"missing-httponly", "missing-samesite", "samesite-none"}},
		{"PHP default", []string{"X-Powered-By: PHP/8.2.7", "PHPSESSID=u7v2j3k9m0q1r5s8t4w6x0y2z3; path=/"}, "php",
			[]string{"missing-secure", "missing-httponly", "missing-samesite", "default-session-name"},
			[]string{"weak-session-id", "persistent-session"}},
		{"Express express-session default", []string{"X-Powered-By: Express",
			"connect.sid=s%3AKx8yNvQ2pL5mR7tW9zB1cD3fG5hJ7kL9.Yx2%2Bq8Zz0aB3cD5eF7gH9iJ1kL3mN5oP7qR9sT1uV3w; Path=/; HttpOnly"}, "express",
			[]string{"missing-secure", "missing-samesite"}, []string{"missing-httponly", "weak-session-id"}},
		{"Tomcat JSESSIONID", []string{"Server: Apache-Coyote/1.1", "JSESSIONID=6F1C0A2B3D4E5F60718293A4B5C6D7E8; Path=/shop; HttpOnly"}, "java",
			[]string{"missing-secure", "missing-samesite", "default-session-name"}, []string{"missing-httponly"}},
		{"ASP.NET session", []string{"Server: Microsoft-IIS/10.0", "X-Powered-By: ASP.NET",
			"ASP.NET_SessionId=vx0mx4u2kfrz3r0y5h1vtkqd; path=/; HttpOnly; SameSite=Lax"}, "aspnet",
			[]string{"missing-secure", "default-session-name"}, []string{"missing-samesite", "weak-session-id"}},
		{"Rails cookie store", []string{"_shop_session=dGhpcyBpcyBhIHJhaWxzIHNlc3Npb24gY29va2ll--9a8b7c6d5e4f3a2b1c0d; path=/; HttpOnly; SameSite=Lax"}, "rails",
			[]string{"missing-secure"}, []string{"missing-httponly", "missing-samesite"}},
		{"Laravel", []string{"laravel_session=eyJpdiI6IkR4WWJ6dz09IiwidmFsdWUiOiJhYmMifQ%3D%3D; expires=Sun, 01 Nov 2026 14:00:00 GMT; Max-Age=7200; path=/; httponly; samesite=lax"}, "laravel",
			[]string{"missing-secure", "persistent-session"}, []string{"long-lived-session", "missing-httponly"}},
		{"Go gorilla/sessions", []string{"gorilla_session=MTcwMDAwMDAwMHxEdi1CQkFFQ180SUFBUkFCRUFBQUpfLUNBQUVHYzNSeWFXNW58; Path=/; Expires=Thu, 01 Nov 2029 12:00:00 GMT; Max-Age=94608000; HttpOnly; Secure; SameSite=Lax"}, "go",
			[]string{"long-lived-session", "secure-over-http"}, []string{"missing-secure", "missing-samesite"}},
		{"deletion", []string{"sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"}, "django",
			[]string{"cleartext-set-cookie"}, []string{"missing-secure", "missing-httponly", "missing-samesite", "weak-session-id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := respWith(tt.lines...)
			fs := EvaluateResponse(resp, false, Options{})
			name := resp.SetCookies[0].Name
			for _, r := range tt.fire {
				if _, ok := hasRule(fs, r, name); !ok {
					t.Errorf("%s did not fire; got %v", r, ruleIDs(fs))
				}
			}
			for _, r := range tt.quiet {
				if _, ok := hasRule(fs, r, name); ok {
					t.Errorf("%s fired; got %v", r, ruleIDs(fs))
				}
			}
			for _, f := range fs {
				if f.Framework.ID != tt.framework {
					t.Errorf("%s: framework %q (%s), want %q", f.Rule, f.Framework.ID, f.Framework.Reason, tt.framework)
				}
				if f.Fix == "" || f.Fingerprint == "" || f.Session.Reason == "" {
					t.Errorf("%s: fix %q, fingerprint %q, session %+v: all required", f.Rule, f.Fix, f.Fingerprint, f.Session)
				}
			}
		})
	}
}

func TestRemediationFitsFramework(t *testing.T) {
	tests := []struct{ line, header, rule, want string }{
		{"session=x.y.z; Path=/", "Server: Werkzeug/3.0.1", "missing-secure", "SESSION_COOKIE_SECURE"},
		{"sessionid=abc; Path=/", "", "missing-samesite", "SESSION_COOKIE_SAMESITE"},
		{"PHPSESSID=abc; path=/", "", "missing-httponly", "session.cookie_httponly"},
		{"connect.sid=abc; Path=/", "", "missing-secure", "cookie: { secure: true"},
		{"JSESSIONID=abc; Path=/", "", "missing-secure", "server.servlet.session.cookie.secure"},
		{"ASP.NET_SessionId=abc; path=/", "", "missing-httponly", "httpOnlyCookies"},
		{"_app_session=abc; path=/", "", "missing-samesite", "same_site: :lax"},
		{"laravel_session=abc; path=/", "", "missing-secure", "SESSION_SECURE_COOKIE"},
		{"gorilla_session=abc; Path=/", "", "missing-httponly", "HttpOnly: true"},
		{"session=abc; Path=/", "X-Powered-By: Express", "missing-secure", "secure: true"},
		{"mysid=abc; Path=/", "", "missing-secure", "Add the Secure attribute"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			lines := []string{tt.line}
			if tt.header != "" {
				lines = append(lines, tt.header)
			}
			fs := EvaluateResponse(respWith(lines...), false, Options{})
			for _, f := range fs {
				if f.Rule == tt.rule {
					if !strings.Contains(f.Fix, tt.want) {
						t.Errorf("fix %q (framework %s) does not mention %q", f.Fix, f.Framework.ID, tt.want)
					}
					return
				}
			}
			t.Errorf("%s did not fire: %v", tt.rule, ruleIDs(fs))
		})
	}
}

func TestEvaluateResponse(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		opt   Options
		want  string
	}{
		{"fully flagged still cleartext", []string{"__Host-SID=9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f; Secure; HttpOnly; SameSite=Lax; Path=/"}, Options{},
			"cleartext-set-cookie:__Host-SID secure-over-http:__Host-SID host-prefix-violation:__Host-SID"},
		{"non-session cookie at info", []string{"theme=dark; Secure; HttpOnly; SameSite=Strict"}, Options{}, "secure-over-http:theme"},
		{"non-session off by policy", []string{"theme=dark"}, Options{NonSessionOff: true}, ""},
		{"value shape needs HttpOnly", []string{"tok=Q2hhbmdlIHRoaXMgc2VjcmV0IGtleSBub3cgcGxlYXNl; Path=/; Secure; SameSite=Lax"},
			Options{Disabled: map[string]bool{"secure-over-http": true}}, "missing-httponly:tok"},
		{"value shape with HttpOnly", []string{"tok=Q2hhbmdlIHRoaXMgc2VjcmV0IGtleSBub3cgcGxlYXNl; Path=/; Secure; HttpOnly; SameSite=Lax"},
			Options{Disabled: map[string]bool{"secure-over-http": true, "no-host-prefix": true}}, "cleartext-set-cookie:tok"},
		{"disabled rules", []string{"__Host-SID=9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f; Secure; HttpOnly; SameSite=Lax; Path=/"},
			Options{Disabled: map[string]bool{"secure-over-http": true, "host-prefix-violation": true}}, "cleartext-set-cookie:__Host-SID"},
		{"deletion: no attribute rules", []string{"sessionid=; Max-Age=0; Path=/"}, Options{}, "cleartext-set-cookie:sessionid"},
		{"expired Expires is a deletion", []string{"sid=x; Expires=Thu, 01 Jan 1970 00:00:01 GMT"}, Options{}, "cleartext-set-cookie:sid"},
		{"same cookie twice", []string{"__Host-SID=9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f; Secure; HttpOnly; SameSite=Lax; Path=/",
			"__Host-SID=0f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f; Secure; HttpOnly; SameSite=Lax; Path=/"},
			Options{Disabled: map[string]bool{"secure-over-http": true, "host-prefix-violation": true, "cleartext-set-cookie": true}},
			"malformed-set-cookie:__Host-SID malformed-set-cookie:__Host-SID"},
		{"lifetime threshold from policy", []string{"__Host-SID=9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f; Secure; HttpOnly; SameSite=Lax; Path=/; Max-Age=7200"},
			Options{LifetimeThreshold: time.Hour, Disabled: map[string]bool{"secure-over-http": true, "host-prefix-violation": true, "cleartext-set-cookie": true}},
			"persistent-session:__Host-SID long-lived-session:__Host-SID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := EvaluateResponse(respWith(tt.lines...), false, tt.opt)
			if got := strings.Join(ruleIDs(fs), " "); got != tt.want {
				t.Errorf("rules = %q, want %q", got, tt.want)
			}
			for _, f := range fs {
				if f.Host != "shop.example" || f.Frame != 7 || f.Direction != "response" || f.Status != 200 || f.Path != "/login" {
					t.Errorf("evidence wrong: %+v", f)
				}
				if (f.Deletion || !f.Session.Session && f.Rule != "cleartext-set-cookie") && f.Severity != Info {
					t.Errorf("%s on a deletion or non-session cookie has severity %v, want info", f.Rule, f.Severity)
				}
			}
		})
	}
}

func TestSeverityPolicy(t *testing.T) {
	resp := respWith("PHPSESSID=9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f; path=/")
	fs := EvaluateResponse(resp, false, Options{Severity: map[string]Severity{"missing-samesite": High}})
	if s, _ := hasRule(fs, "missing-samesite", "PHPSESSID"); s != High {
		t.Errorf("override: missing-samesite severity %v, want high", s)
	}
	if s, _ := hasRule(fs, "missing-secure", "PHPSESSID"); s != Medium {
		t.Errorf("missing-secure severity %v, want medium", s)
	}
}

func TestRequestRules(t *testing.T) {
	tests := []struct {
		name, sample string
		tls          bool
		want         string // rule:name list
		sev          Severity
	}{
		{"basic auth", "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", false, "cleartext-authorization:Authorization", High},
		{"jsessionid in path, plaintext", "GET /shop/cart;jsessionid=A1B2C3D4E5F6A7B8C9D0?x=1", false, "session-id-in-url:jsessionid", High},
		{"PHPSESSID in query over TLS", "https GET /index.php?PHPSESSID=9f3c0d1e2b4a5c6d", true, "session-id-in-url:PHPSESSID", Medium},
		{"referer to another host", "Host: cdn.example\nReferer: http://shop.example/a;jsessionid=A1B2C3D4E5F6A7B8C9D0", false, "session-id-in-referer:jsessionid", Medium},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _, tls := sampleExchange(tt.sample)
			fs := EvaluateRequest(req, tls, Hints{}, Options{})
			var got []string
			for _, f := range fs {
				if f.Rule != "default-session-name" {
					got = append(got, f.Rule+":"+f.Cookie)
				}
			}
			if strings.Join(got, " ") != tt.want {
				t.Fatalf("rules = %v, want %s", got, tt.want)
			}
			if fs[0].Severity != tt.sev {
				t.Errorf("severity %v, want %v", fs[0].Severity, tt.sev)
			}
		})
	}
}

// TestSecretsStayOut checks that Authorization credentials never reach a
// finding, even with ShowValues, and that paths lose their session IDs
// unless ShowValues.
func TestSecretsStayOut(t *testing.T) {
	req, _, _ := sampleExchange("GET /a;jsessionid=A1B2C3D4E5F6A7B8C9D0?PHPSESSID=9f3c0d1e2b4a5c6d&page=2\nAuthorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l\nCookie: sessionid=TOPSECRETVALUE123")
	for _, show := range []bool{false, true} {
		for _, f := range EvaluateRequest(req, false, Hints{}, Options{ShowValues: show}) {
			s := strings.Join([]string{f.Line, f.Path, f.Scheme, f.Value.String(), f.Fix, f.Session.Reason}, " ")
			if strings.Contains(s, "YWxhZGRpbjpvcGVuc2VzYW1l") || strings.Contains(s, "aladdin") || strings.Contains(s, "opensesame") {
				t.Errorf("show=%v: %s carries Basic credentials: %s", show, f.Rule, s)
			}
			if f.Rule == "cleartext-authorization" && (f.Value != nil || f.Scheme != "Basic") {
				t.Errorf("authorization finding: value %v, scheme %q", f.Value, f.Scheme)
			}
			leaks := strings.Contains(s, "A1B2C3D4E5F6A7B8C9D0") || strings.Contains(s, "9f3c0d1e2b4a5c6d") || strings.Contains(s, "TOPSECRET")
			if leaks != show {
				t.Errorf("show=%v: %s: values present = %v: %s", show, f.Rule, leaks, s)
			}
		}
	}
	if got := RedactTarget("/a;jsessionid=X1;v=2/b?sid=abc&q=1", Classifier{}); got != "/a;jsessionid=REDACTED;v=2/b?sid=REDACTED&q=1" {
		t.Errorf("RedactTarget = %q", got)
	}
}

func TestEvaluateRequestAndRedaction(t *testing.T) {
	req := &httpparse.Request{Method: "GET", Path: "/account", Host: "shop.example"}
	req.Headers = []httpparse.Header{{Name: "Cookie", Value: "theme=dark; sessionid=TOPSECRETVALUE123456789"}}
	req.Cookies = httpparse.ParseCookieHeader(req.Headers[0].Value)
	fs := EvaluateRequest(req, false, Hints{}, Options{})
	if got := strings.Join(ruleIDs(fs), " "); got != "cleartext-cookie:sessionid default-session-name:sessionid" {
		t.Fatalf("rules = %q", got)
	}
	f := fs[0]
	if f.Value.Raw != "" || f.Line != "" || strings.Contains(f.Value.String(), "TOPSECRET") {
		t.Errorf("value not redacted: %+v", f.Value)
	}
	if f.Value.Length != len("TOPSECRETVALUE123456789") || !strings.HasPrefix(f.Value.Fingerprint, "sha256:") {
		t.Errorf("redacted value = %+v", f.Value)
	}
	if fs := EvaluateRequest(req, true, Hints{}, Options{}); strings.Join(ruleIDs(fs), " ") != "default-session-name:sessionid" {
		t.Errorf("cleartext rule fired inside TLS: %v", ruleIDs(fs))
	}
	shown := EvaluateRequest(req, false, Hints{}, Options{ShowValues: true})
	if shown[0].Value.Raw != "TOPSECRETVALUE123456789" || shown[0].Line != req.Headers[0].Value {
		t.Errorf("--show-values lost the value: %+v", shown[0])
	}
}

func TestIgnore(t *testing.T) {
	f := Finding{Rule: "missing-httponly", Host: "cdn.shop.example:8080", Cookie: "_ga"}
	tests := []struct {
		ig   Ignore
		want bool
	}{
		{Ignore{Cookie: "_ga"}, true},
		{Ignore{Cookie: "_G*"}, true},
		{Ignore{Host: "*.shop.example"}, true},
		{Ignore{Host: "*.shop.example", Rules: []string{"missing-secure"}}, false},
		{Ignore{Host: "*.shop.example", Rules: []string{"missing-httponly"}}, true},
		{Ignore{Cookie: "sid"}, false},
	}
	for _, tt := range tests {
		if _, got := (Options{Ignore: []Ignore{tt.ig}}).Ignored(&f); got != tt.want {
			t.Errorf("%+v: ignored = %v, want %v", tt.ig, got, tt.want)
		}
	}
}

func TestFingerprintStable(t *testing.T) {
	a := Fingerprint("missing-secure", "Shop.Example", "SID")
	if a != Fingerprint("missing-secure", "shop.example", "SID") || a == Fingerprint("missing-secure", "shop.example", "sid") ||
		a == Fingerprint("missing-httponly", "shop.example", "SID") || len(a) != 16 {
		t.Errorf("fingerprint %q not stable or not distinct", a)
	}
}

func TestAggregator(t *testing.T) {
	mk := func(frame uint64, host, cookie string, sev Severity) Finding {
		return Finding{Rule: "cleartext-cookie", Host: host, Cookie: cookie, Frame: frame, Severity: sev,
			Count: 1, Time: testNow.Add(time.Duration(frame) * time.Second), LastTime: testNow.Add(time.Duration(frame) * time.Second)}
	}
	var a Aggregator
	for _, f := range []Finding{mk(9, "b.example", "sid", High), mk(3, "A.example", "sid", Info), mk(5, "a.example", "sid", High), mk(4, "a.example", "SID", High)} {
		a.Add(f)
	}
	fs := a.Findings()
	if len(fs) != 3 {
		t.Fatalf("got %d findings, want 3 (host folds case-insensitively, cookie names do not)", len(fs))
	}
	if fs[0].Frame != 3 || fs[0].Count != 2 || fs[0].Severity != High || !fs[0].LastTime.Equal(testNow.Add(5*time.Second)) {
		t.Errorf("folded finding = %+v", fs[0])
	}
	if fs[1].Frame != 4 || fs[2].Frame != 9 {
		t.Errorf("order = %d %d, want 4 9", fs[1].Frame, fs[2].Frame)
	}
	each := Aggregator{Each: true}
	each.Add(mk(2, "a", "sid", High))
	each.Add(mk(1, "a", "sid", High))
	if fs := each.Findings(); len(fs) != 2 || fs[0].Frame != 1 {
		t.Errorf("--each findings = %+v", fs)
	}
}

// TestFindingSize: the layout of Finding leaves no padding that a field
// could fill (see the comment on Severity); a new field is welcome, but
// should be placed with that in mind and this size updated.
func TestFindingSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) == 8 && unsafe.Sizeof(Finding{}) != 512 {
		t.Errorf("Finding is %d bytes, want 512 (64-bit)", unsafe.Sizeof(Finding{}))
	}
}

// TestAggregatorRelease: Release gives Findings' findings in Findings' order,
// as pointers (findings over several blocks, some folded), and empties the
// aggregator.
func TestAggregatorRelease(t *testing.T) {
	for _, each := range []bool{false, true} {
		a := Aggregator{Each: each}
		for i := range 3*blockSize + 7 {
			f := Finding{Rule: "cleartext-cookie", Host: "h" + strconv.Itoa(i%(blockSize+3)), Cookie: "sid",
				Frame: uint64((i * 7919) % 1000), Severity: High, Count: 1}
			f.Time, f.LastTime = testNow, testNow
			a.Add(f)
		}
		want := a.Findings()
		got := a.Release().Materialise()
		if len(got) != len(want) {
			t.Fatalf("each=%v: Release gave %d findings, Findings %d", each, len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(*got[i], want[i]) {
				t.Fatalf("each=%v: finding %d = %+v, want %+v", each, i, *got[i], want[i])
			}
		}
		if a.Len() != 0 || a.index.slots != nil || a.Each != each {
			t.Errorf("each=%v: after Release, Len %d, index %v, Each %v", each, a.Len(), a.index.slots != nil, a.Each)
		}
	}
}

// TestAggregatorCollisions: keys whose hashes collide fold as they do
// otherwise (every hash made equal: every key probes the one chain).
func TestAggregatorCollisions(t *testing.T) {
	var occ []Finding
	for i := range 600 {
		f := Finding{Rule: []string{"cleartext-cookie", "missing-secure"}[i%2], Host: []string{"a.example", "B.example", "b.EXAMPLE"}[i%3],
			Cookie: "sid" + strconv.Itoa(i%7), Frame: uint64(1000 - i), Severity: High, Count: 1}
		f.Time, f.LastTime = testNow.Add(time.Duration(i)*time.Second), testNow.Add(time.Duration(i)*time.Second)
		occ = append(occ, f)
	}
	run := func() []Finding {
		var a, b Aggregator
		for i, f := range occ {
			if i%3 == 0 {
				b.Add(f)
			} else {
				a.Add(f)
			}
		}
		a.Merge(&b)
		return a.Findings()
	}
	want := run()
	defer func(h func(*aggIndex, aggKey) uint64) { hashKey = h }(hashKey)
	hashKey = func(*aggIndex, aggKey) uint64 { return 7 }
	got := run()
	if len(want) != 2*2*7 || !reflect.DeepEqual(got, want) {
		t.Errorf("with colliding hashes: %d findings, without: %d (want 28), equal %v", len(got), len(want), reflect.DeepEqual(got, want))
	}
}

// TestAggregatorOrderIndependent: whatever order occurrences arrive in,
// and however they are split among Aggregators that are merged, the
// findings are the same, with the earliest occurrence as evidence.
func TestAggregatorOrderIndependent(t *testing.T) {
	mk := func(frame uint64, msg uint64, pos int, value string) Finding {
		f := Finding{Rule: "cleartext-cookie", Host: "a.example", Cookie: "sid", Frame: frame, Message: msg,
			Severity: High, Count: 1, Time: testNow.Add(time.Duration(frame) * time.Second),
			Value: &Value{Fingerprint: value}}
		f.LastTime, f.pos = f.Time, int32(pos)
		return f
	}
	occ := []Finding{mk(7, 3, 0, "z"), mk(5, 2, 1, "y"), mk(5, 2, 0, "x"), mk(5, 1, 0, "w"), mk(9, 4, 0, "a")}
	want := Finding{}
	for _, order := range [][]int{{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 0, 4, 1, 3}} {
		for split := 0; split <= len(order); split++ {
			var a, b Aggregator
			for i, k := range order {
				if i < split {
					a.Add(occ[k])
				} else {
					b.Add(occ[k])
				}
			}
			a.Merge(&b)
			fs := a.Findings()
			if len(fs) != 1 {
				t.Fatalf("order %v split %d: %d findings", order, split, len(fs))
			}
			if want.Rule == "" {
				want = fs[0]
			}
			if !reflect.DeepEqual(fs[0], want) {
				t.Errorf("order %v split %d: %+v, want %+v", order, split, fs[0], want)
			}
		}
	}
	if want.Value.Fingerprint != "w" || want.Count != 5 || !want.LastTime.Equal(testNow.Add(9*time.Second)) {
		t.Errorf("evidence %q count %d last %v; want the first message of frame 5 (w), 5, frame 9's time",
			want.Value.Fingerprint, want.Count, want.LastTime)
	}
}

// TestAggregatorManyKeys: through the index's growths (64 slots to 8192),
// every key keeps one finding with the count of its occurrences, hosts
// folding case-insensitively, also after a Merge that re-adds one
// Aggregator's findings into another's.
func TestAggregatorManyKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	want := map[aggKey]int{}
	var a, b Aggregator
	for i := range 30000 {
		k := rng.IntN(5000)
		host := "h" + strconv.Itoa(k%97) + ".example"
		if i%5 == 0 {
			host = strings.ToUpper(host)
		}
		f := Finding{Rule: []string{"cleartext-cookie", "missing-secure", "missing-httponly"}[k%3], Host: host,
			Cookie: "c" + strconv.Itoa(k), Frame: uint64(rng.IntN(100000)), Severity: High, Count: 1 + i%2}
		f.Time, f.LastTime = testNow, testNow
		want[f.aggKey()] += f.Count
		if i%4 == 0 {
			b.Add(f)
		} else {
			a.Add(f)
		}
	}
	a.Merge(&b)
	if a.Len() != len(want) {
		t.Fatalf("%d findings, want %d keys", a.Len(), len(want))
	}
	for _, f := range a.Findings() {
		if n := want[f.aggKey()]; f.Count != n {
			t.Fatalf("%s %s %s: count %d, want %d", f.Rule, f.Host, f.Cookie, f.Count, n)
		}
		delete(want, f.aggKey())
	}
	if len(want) != 0 || len(a.index.slots) != 8192 {
		t.Errorf("%d keys without a finding; %d slots for %d findings", len(want), len(a.index.slots), a.Len())
	}
}

// TestJudgingLists: evaluate's per-kind rule lists hold every rule that
// fires on an observation of the catalogue's samples (with and without
// --all-cookies), and only rules whose scope takes that kind.
func TestJudgingLists(t *testing.T) {
	fired := 0
	for _, all := range []bool{false, true} {
		opt := Options{Classifier: Classifier{All: all}}
		for _, r := range catalogue {
			for _, s := range append(append([]string(nil), r.Fires...), r.Silent...) {
				for _, o := range sampleObservations(s, opt) {
					rs := judging[o.Kind][b2i(o.Session)]
					for i := range catalogue {
						if catalogue[i].applies(&o) {
							fired++
							if !slices.Contains(rs, int32(i)) {
								t.Errorf("rule %s fires on %q (%v, session %v) but is not in its list", catalogue[i].ID, s, o.Kind, o.Session)
							}
						}
					}
					for _, i := range rs {
						if !catalogue[i].judges(o.Kind, o.Session) {
							t.Errorf("rule %s listed for %v, session %v", catalogue[i].ID, o.Kind, o.Session)
						}
					}
				}
			}
		}
	}
	if fired == 0 {
		t.Fatal("no rule fired on the samples")
	}
}

// TestAggHashJoined: the index's hash of a key is that of its parts
// written to a maphash.Hash one by one, for keys that fit the joined
// buffer and keys that do not.
func TestAggHashJoined(t *testing.T) {
	x := aggIndex{seed: maphash.MakeSeed()}
	for _, n := range []int{0, 1, 50, 100, 118, 119, 120, 121, 126, 127, 128, 300} {
		k := aggKey{"missing-secure", "shop.example", strings.Repeat("c", n)}
		var h maphash.Hash
		h.SetSeed(x.seed)
		h.WriteString(k.rule)
		h.WriteByte(0)
		h.WriteString(k.host)
		h.WriteByte(0)
		h.WriteString(k.cookie)
		if got, want := x.hash(k), h.Sum64(); got != want {
			t.Errorf("cookie of %d bytes: hash %x, want %x", n, got, want)
		}
	}
}
