package report

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/rules"
)

// TestHTMLEscapesTraffic renders findings whose traffic-derived fields hold
// markup: none of it may reach the page as markup. (cmd/cookiewatch renders
// the page in Chromium too.)
func TestHTMLEscapesTraffic(t *testing.T) {
	evil := `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	r, _ := rules.ByID("missing-httponly")
	when := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	f := rules.Finding{Rule: r.ID, Title: r.Title, Severity: rules.Medium, Confidence: rules.Certain, CWE: r.CWE,
		Cookie: evil, Host: evil, Path: "/" + evil, Method: "GET", Direction: "request",
		Value:     rules.NewValue(evil, true),
		Framework: rules.FrameworkInfo{ID: "flask", Name: "Flask", Reason: "Server: " + evil},
		Fix:       "app.config['SESSION_COOKIE_HTTPONLY'] = True",
		Client:    netip.MustParseAddrPort("10.0.0.1:5000"), Server: netip.MustParseAddrPort("10.0.0.2:80"),
		Frame: 3, Time: when, LastTime: when, Count: 1,
		Chain: []rules.Link{{Kind: "request", Frame: 3, Time: when, Detail: evil}},
	}
	s := Summary{Files: []string{evil + ".pcap"}, Hosts: []Host{{Host: evil, Plaintext: true, First: when, Last: when}}}
	s.Tally(List{&f})
	var b bytes.Buffer
	h := NewHTML(&b, HTMLOptions{Title: "t", Lookup: rules.ByID})
	if err := h.Close(s, List{&f}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"<script", "<img"} {
		if strings.Contains(out, bad) {
			i := strings.Index(out, bad)
			t.Errorf("page contains %q: …%s…", bad, out[max(0, i-80):min(len(out), i+80)])
		}
	}
	if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the hostile text is not shown escaped")
	}
	if !strings.Contains(out, "Content-Security-Policy") || !strings.Contains(out, "default-src 'none'") {
		t.Errorf("page has no CSP forbidding loads")
	}
}
