package rules

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

var testNow = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// observe builds the observation a sample describes: "Cookie: a=b" is a
// request cookie, anything else a Set-Cookie value, on a plaintext connection.
func observe(sample string, cls Classifier) []Observation {
	if rest, ok := strings.CutPrefix(sample, "Cookie: "); ok {
		var out []Observation
		for _, c := range httpparse.ParseCookieHeader(rest) {
			out = append(out, Observation{Kind: KindCookie, Name: c.Name, Session: cls.Classify(c.Name).Session})
		}
		return out
	}
	c := httpparse.ParseSetCookie(sample)
	return []Observation{{Kind: KindSetCookie, Name: c.Name, Session: cls.Classify(c.Name).Session,
		SetCookie: c, Deletion: c.Deletes(testNow)}}
}

func TestCatalogue(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range catalogue {
		t.Run(r.ID, func(t *testing.T) {
			if r.ID == "" || seen[r.ID] {
				t.Fatalf("empty or duplicate rule ID %q", r.ID)
			}
			seen[r.ID] = true
			if r.CWE == 0 || r.Severity == SeverityInvalid || r.Confidence == ConfidenceInvalid {
				t.Errorf("rule %s: CWE %d, severity %v, confidence %v: none may be zero", r.ID, r.CWE, r.Severity, r.Confidence)
			}
			if r.Title == "" || r.Explanation == "" || r.Fix == "" || r.Check == nil {
				t.Errorf("rule %s: title, explanation, fix and check are required", r.ID)
			}
			if len(r.Fires) == 0 {
				t.Errorf("rule %s has no sample that must fire", r.ID)
			}
			for _, s := range r.Fires {
				for _, o := range observe(s, Classifier{}) {
					if !r.Check(o) {
						t.Errorf("rule %s does not fire on %q", r.ID, s)
					}
				}
			}
			for _, s := range r.Silent {
				for _, o := range observe(s, Classifier{}) {
					if r.Check(o) {
						t.Errorf("rule %s fires on %q", r.ID, s)
					}
				}
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name, cookie string
		all, want    bool
	}{
		{"PHP", "PHPSESSID", false, true},
		{"Java lower case", "jsessionid", false, true},
		{"ASP.NET", "ASP.NET_SessionId", false, true},
		{"classic ASP prefix", "ASPSESSIONIDQQGGGNCG", false, true},
		{"Django", "sessionid", false, true},
		{"Flask", "session", false, true},
		{"Express", "connect.sid", false, true},
		{"Laravel", "laravel_session", false, true},
		{"Rails app session", "_shop_session", false, true},
		{"Drupal", "SESS0123456789abcdef0123456789abcdef", false, true},
		{"Drupal HTTPS", "SSESS0123456789abcdef0123456789abcdef", false, true},
		{"host prefix stripped", "__Host-SID", false, true},
		{"secure prefix stripped", "__Secure-sessionid", false, true},
		{"analytics", "_ga", false, false},
		{"preference", "theme", false, false},
		{"sess prefix alone is not Drupal", "sessionaffinity", false, false},
		{"bare _session is not Rails", "_session", false, false},
		{"all-cookies", "theme", true, true},
		{"all-cookies nameless", "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classifier{All: tt.all}.Classify(tt.cookie)
			if got.Session != tt.want {
				t.Errorf("Classify(%q) = %+v, want session=%v", tt.cookie, got, tt.want)
			}
			if got.Session && got.Reason == "" {
				t.Errorf("Classify(%q): a session cookie needs a reason", tt.cookie)
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

func TestEvaluateResponse(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		opt   Options
		want  string
	}{
		{"flask default", []string{"session=eyJ1c2VyIjoiYWxpY2UifQ.Zx; HttpOnly; Path=/"}, Options{},
			"cleartext-set-cookie:session missing-secure:session missing-samesite:session"},
		{"fully flagged still cleartext", []string{"PHPSESSID=abc123def456; Secure; HttpOnly; SameSite=Lax"}, Options{},
			"cleartext-set-cookie:PHPSESSID"},
		{"non-session cookie ignored", []string{"theme=dark"}, Options{}, ""},
		{"non-session cookie with --all-cookies", []string{"theme=dark; Secure; HttpOnly; SameSite=Strict"},
			Options{Classifier: Classifier{All: true}}, "cleartext-set-cookie:theme"},
		{"deletion: no attribute rules", []string{"sessionid=; Max-Age=0; Path=/"}, Options{},
			"cleartext-set-cookie:sessionid"},
		{"expired Expires is a deletion", []string{"sid=x; Expires=Thu, 01 Jan 1970 00:00:01 GMT"}, Options{},
			"cleartext-set-cookie:sid"},
		{"two cookies", []string{"sid=1; Secure; HttpOnly; SameSite=Lax", "JSESSIONID=2; Path=/; HttpOnly"}, Options{},
			"cleartext-set-cookie:sid cleartext-set-cookie:JSESSIONID missing-secure:JSESSIONID missing-samesite:JSESSIONID"},
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
				if f.Deletion && f.Severity != Info {
					t.Errorf("deletion finding %s has severity %v, want info", f.Rule, f.Severity)
				}
			}
		})
	}
}

func TestEvaluateRequestAndRedaction(t *testing.T) {
	req := &httpparse.Request{Method: "GET", Path: "/account", Host: "shop.example"}
	req.Headers = []httpparse.Header{{Name: "Cookie", Value: "theme=dark; sessionid=TOPSECRETVALUE123"}}
	req.Cookies = httpparse.ParseCookieHeader(req.Headers[0].Value)
	fs := EvaluateRequest(req, false, Options{})
	if got := strings.Join(ruleIDs(fs), " "); got != "cleartext-cookie:sessionid" {
		t.Fatalf("rules = %q", got)
	}
	f := fs[0]
	if f.Value.Raw != "" || f.Line != "" || strings.Contains(f.Value.String(), "TOPSECRET") {
		t.Errorf("value not redacted: %+v", f.Value)
	}
	if f.Value.Length != len("TOPSECRETVALUE123") || !strings.HasPrefix(f.Value.Fingerprint, "sha256:") {
		t.Errorf("redacted value = %+v", f.Value)
	}
	if fs := EvaluateRequest(req, true, Options{}); len(fs) != 0 {
		t.Errorf("cleartext rule fired inside TLS: %v", ruleIDs(fs))
	}
	shown := EvaluateRequest(req, false, Options{ShowValues: true})
	if shown[0].Value.Raw != "TOPSECRETVALUE123" || shown[0].Line != req.Headers[0].Value {
		t.Errorf("--show-values lost the value: %+v", shown[0])
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

// TestAggregatorOrderIndependent: whatever order occurrences arrive in,
// and however they are split among Aggregators that are merged, the
// findings are the same, with the earliest occurrence as evidence.
func TestAggregatorOrderIndependent(t *testing.T) {
	mk := func(frame uint64, msg uint64, pos int, value string) Finding {
		f := Finding{Rule: "cleartext-cookie", Host: "a.example", Cookie: "sid", Frame: frame, Message: msg,
			Severity: High, Count: 1, Time: testNow.Add(time.Duration(frame) * time.Second),
			Value: Value{Fingerprint: value}}
		f.LastTime, f.pos = f.Time, pos
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
