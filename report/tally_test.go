package report

import (
	"maps"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cookiewatch/cookiewatch/rules"
)

// TestTallierAsSeparatePasses: one Tallier pass with CountHosts gives the
// counts that Tally and CountFindings made in passes of their own before
// (written out here as they were), over findings whose hosts differ in
// case, repeat and alternate, with a host key that merges some spellings
// and hosts that have no row.
func TestTallierAsSeparatePasses(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	hostNames := []string{"a.example", "A.Example", "b.example", "B.EXAMPLE:8080", "c.example", "", "d.example"}
	var fs List
	for _, f := range append(benchFindings(2000), sampleFindings()...) {
		g := *f
		if rng.IntN(3) > 0 { // runs of one host, and switches
			g.Host = hostNames[rng.IntN(len(hostNames))]
		}
		if rng.IntN(50) == 0 {
			g.Severity = rules.Severity(9) // out of range: "severity(9)"
		}
		fs = append(fs, &g)
	}
	key := func(h string) string {
		h = strings.ToLower(h)
		if i := strings.IndexByte(h, ':'); i >= 0 {
			h = h[:i]
		}
		return h
	}
	rows := func() []Host {
		return []Host{{Host: "a.example"}, {Host: "b.example"}, {Host: "api7.shop7.net"}, {Host: "nowhere.example"}}
	}

	// The two passes as they were.
	var want Summary
	want.BySeverity = map[string]int{}
	hosts, cookies := map[string]bool{}, map[string]bool{}
	for _, f := range fs {
		want.BySeverity[f.Severity.String()]++
		hosts[strings.ToLower(f.Host)] = true
		cookies[f.Cookie] = true
	}
	want.Findings, want.FindingHosts, want.Cookies = len(fs), len(hosts), len(cookies)
	wantRows := rows()
	idx := map[string]int{}
	for i, h := range wantRows {
		idx[h.Host] = i
	}
	for _, f := range fs {
		if i, ok := idx[key(f.Host)]; ok {
			if wantRows[i].Findings == nil {
				wantRows[i].Findings = map[string]int{}
			}
			wantRows[i].Findings[f.Severity.String()]++
		}
	}

	var tl Tallier
	gotRows := rows()
	tl.CountHosts(gotRows, key)
	for _, f := range fs {
		tl.Add(f)
	}
	var got Summary
	tl.Fill(&got)
	if got.Findings != want.Findings || got.FindingHosts != want.FindingHosts || got.Cookies != want.Cookies ||
		!maps.Equal(got.BySeverity, want.BySeverity) {
		t.Errorf("Tallier: %d findings, %d hosts, %d cookies, %v; want %d, %d, %d, %v", got.Findings, got.FindingHosts,
			got.Cookies, got.BySeverity, want.Findings, want.FindingHosts, want.Cookies, want.BySeverity)
	}
	counted := 0
	for i := range wantRows {
		if !maps.Equal(gotRows[i].Findings, wantRows[i].Findings) {
			t.Errorf("host %s: findings %v, want %v", wantRows[i].Host, gotRows[i].Findings, wantRows[i].Findings)
		}
		counted += len(wantRows[i].Findings)
	}
	if counted < 5 || wantRows[3].Findings != nil {
		t.Fatalf("the rows prove little: %+v", wantRows)
	}
	// Tally and CountFindings are the Tallier over a Findings.
	var s Summary
	s.Tally(fs)
	cf := rows()
	CountFindings(cf, fs, key)
	if s.Findings != want.Findings || s.FindingHosts != want.FindingHosts || !maps.Equal(s.BySeverity, want.BySeverity) ||
		!maps.Equal(cf[0].Findings, wantRows[0].Findings) {
		t.Errorf("Tally %+v / CountFindings %v differ from the passes", s, cf)
	}
}
