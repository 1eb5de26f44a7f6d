package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cookiewatch/cookiewatch/rules"
)

// Scenario is the kind of attack a finding enables, in the terms a
// classroom uses. The first three are the scenarios every explanation comes
// back to: network theft (no TLS, no Secure), script theft (no HttpOnly) and
// cross-site requests (no SameSite).
type Scenario struct {
	ID    string // "network", "script", "cross-site", …
	Title string // "Network theft"
	Who   string // who can exploit it, in plain words
}

var (
	scNetwork = Scenario{"network", "Network theft",
		"Anyone who can read the traffic between the browser and the server: someone on the same Wi-Fi " +
			"or LAN, whoever runs a hotspot, router or proxy on the path, or anyone with a mirror port. " +
			"They need no access to the user's computer or to the site."}
	scScript = Scenario{"script", "Script theft",
		"Anyone who gets JavaScript to run in a page of the site: an attacker who finds one cross-site " +
			"scripting (XSS) flaw, or a compromised third-party script (analytics, ads, a CDN library) the page loads."}
	scCrossSite = Scenario{"cross-site", "Cross-site requests",
		"Any web site the user visits while logged in, or a link in an e-mail or an ad that opens one: its " +
			"page makes the browser send requests to this site, and the browser attaches the cookie."}
	scReplay = Scenario{"replay", "Session replay in progress",
		"Someone already did: a second client address used the same session. Whoever copied the cookie " +
			"off the wire (see the network theft findings) can act as the user until the session ends."}
	scURL = Scenario{"url", "Session ID in URLs",
		"Anyone who sees the URL later: server, proxy and analytics logs, browser history, people the link " +
			"is shared with, and other sites through the Referer header."}
	scLifetime = Scenario{"lifetime", "Long-lived session",
		"Anyone who gets hold of the cookie later (a shared or stolen computer, malware, a backup, a copied " +
			"cookie file) keeps a working session for as long as the cookie lives."}
	scDomain = Scenario{"domain", "Cookie shared with other hosts",
		"Every other host under the cookie's Domain: a compromised or less trusted subdomain receives the " +
			"cookie, and can set one that overrides it."}
	scGuess = Scenario{"guess", "Guessable session ID",
		"Anyone who can send requests to the site: short or low-entropy session IDs can be guessed or brute-forced."}
	scFixation = Scenario{"fixation", "Session fixation",
		"Anyone who can plant or read the session value before the user logs in: a network attacker, a " +
			"sibling subdomain, or someone who sends the user a link carrying a session ID."}
	scBrowser = Scenario{"browser", "Cookie rejected or weakened by browsers",
		"Users first (logins that silently fail, or cookies without the protection the server thinks they " +
			"have); an attacker on the path or on a sibling subdomain exploits the same gap to plant or read the cookie."}
	scProfile = Scenario{"profile", "Fingerprinting and cookie planting",
		"Attackers profiling the site (a default name tells them the framework), and anyone who can set a " +
			"cookie for the host (a network attacker, a sibling subdomain): without the __Host- prefix they can " +
			"plant one with the same name."}
)

// ruleScenario maps every rule of both catalogues to its scenario and,
// for cross-connection rules (which carry no framework fix), the setting
// whose framework-specific fix applies. TestExplainCoversCatalogue checks
// that no rule is missing.
var ruleScenario = map[string]struct {
	sc      Scenario
	setting rules.Setting
}{
	"cleartext-cookie":           {sc: scNetwork},
	"cleartext-set-cookie":       {sc: scNetwork},
	"cleartext-authorization":    {sc: scNetwork},
	"session-id-in-url":          {sc: scURL},
	"session-id-in-referer":      {sc: scURL},
	"missing-secure":             {sc: scNetwork},
	"missing-httponly":           {sc: scScript},
	"missing-samesite":           {sc: scCrossSite},
	"samesite-none":              {sc: scCrossSite},
	"invalid-samesite":           {sc: scCrossSite},
	"broad-domain":               {sc: scDomain},
	"public-suffix-domain":       {sc: scBrowser},
	"no-host-prefix":             {sc: scProfile},
	"secure-over-http":           {sc: scBrowser},
	"samesite-none-insecure":     {sc: scBrowser},
	"secure-prefix-violation":    {sc: scBrowser},
	"host-prefix-violation":      {sc: scBrowser},
	"http-prefix-violation":      {sc: scBrowser},
	"partitioned-insecure":       {sc: scBrowser},
	"malformed-set-cookie":       {sc: scBrowser},
	"persistent-session":         {sc: scLifetime},
	"long-lived-session":         {sc: scLifetime},
	"weak-session-id":            {sc: scGuess},
	"default-session-name":       {sc: scProfile},
	"mixed-scheme-session":       {sc: scNetwork, setting: rules.SettingTLS},
	"cookie-set-over-tls-leaked": {sc: scNetwork, setting: rules.SettingSecure},
	"session-reuse":              {sc: scReplay, setting: rules.SettingSecure},
	"redirect-sets-session":      {sc: scNetwork, setting: rules.SettingTLS},
	"session-not-rotated":        {sc: scFixation},
	"secure-cookie-shadowed":     {sc: scBrowser, setting: rules.SettingName},
}

// ScenarioOf returns a rule's scenario; ok is false for a rule this file
// does not know.
func ScenarioOf(ruleID string) (Scenario, bool) {
	e, ok := ruleScenario[ruleID]
	return e.sc, ok
}

// Explanation is a finding in plain words: the attack, who can exploit it
// and the fix for the framework that set the cookie.
type Explanation struct {
	Scenario  Scenario
	Attack    string // the rule's explanation of the attack
	Fix       string // for Framework
	Framework string // the framework's name; "" when no framework applies
	Why       string // why that framework was guessed
}

// RuleLookup finds a rule by ID in the catalogues (per-message and
// cross-connection); cmd supplies it, since report does not import correlate.
type RuleLookup func(id string) (rules.Rule, bool)

// Explainer explains the findings of one report. Cross-connection findings
// carry no framework of their own; they borrow it from a finding of the same
// host and cookie that does.
type Explainer struct {
	lookup RuleLookup
	fw     map[string]rules.FrameworkInfo // host and cookie → framework
}

// NewExplainer prepares explanations for fs.
func NewExplainer(lookup RuleLookup, fs []*rules.Finding) *Explainer {
	e := &Explainer{lookup: lookup, fw: map[string]rules.FrameworkInfo{}}
	for _, f := range fs {
		if f.Framework.ID == "" {
			continue
		}
		k := hostCookie(f)
		if cur, ok := e.fw[k]; !ok || cur.ID == "generic" && f.Framework.ID != "generic" {
			e.fw[k] = f.Framework
		}
	}
	return e
}

// hostCookie keys findings by host (without port, lower-case) and cookie.
func hostCookie(f *rules.Finding) string {
	h := strings.ToLower(f.Host)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		if _, err := strconv.Atoi(h[i+1:]); err == nil {
			h = h[:i]
		}
	}
	return h + "\x00" + f.Cookie
}

// Explain returns f in plain words.
func (e *Explainer) Explain(f *rules.Finding) Explanation {
	x := Explanation{Fix: f.Fix, Framework: f.Framework.Name, Why: f.Framework.Reason}
	r, ok := e.lookup(f.Rule)
	if ok {
		x.Attack = r.Explanation
		if x.Fix == "" {
			x.Fix = r.Fix
		}
	}
	entry, known := ruleScenario[f.Rule]
	if known {
		x.Scenario = entry.sc
	} else {
		x.Scenario = Scenario{ID: "other", Title: "Other", Who: "See the rule's explanation."}
	}
	if f.Framework.ID == "" && known && entry.setting != rules.SettingNone {
		// A cross-connection finding: add the framework's own setting.
		fw, ok := e.fw[hostCookie(f)]
		if !ok {
			fw = rules.FrameworkInfo{ID: "generic", Name: "any stack"}
		}
		x.Framework, x.Why = fw.Name, fw.Reason
		if s := rules.Remediation(rules.Rule{Setting: entry.setting}, fw.ID); s != "" && s != x.Fix {
			x.Fix = strings.TrimSuffix(x.Fix, ".") + ". " + s
		}
	}
	return x
}

// Explain makes Close write every finding's explanation after the tables
// (--explain); lookup finds the rules.
func (t *Table) Explain(lookup RuleLookup) { t.explain = lookup }

// WriteExplanations writes every finding's explanation as indented text,
// for the table and the terminal: what the attack is, who can exploit it and
// the fix for the framework that set the cookie.
func WriteExplanations(w io.Writer, fs []*rules.Finding, e *Explainer) error {
	if len(fs) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("\nWhat these findings mean\n========================\n")
	for i, f := range fs {
		x := e.Explain(f)
		fmt.Fprintf(&b, "\n%d. [%s] %s — %s", i+1, f.Severity, f.Rule, Safe(f.Cookie, 40))
		if f.Host != "" {
			fmt.Fprintf(&b, " on %s", Safe(f.Host, 60))
		}
		fmt.Fprintf(&b, " (frame %s)\n", framesText(f))
		fmt.Fprintf(&b, "   %s (%s)\n", f.Title, strings.ToLower(x.Scenario.Title))
		wrap(&b, "   Attack: ", x.Attack)
		wrap(&b, "   Who:    ", x.Scenario.Who)
		fix := x.Fix
		label := "   Fix:    "
		if x.Framework != "" {
			label = "   Fix (" + x.Framework + "): "
		}
		wrap(&b, label, fix)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func framesText(f *rules.Finding) string {
	if len(f.Chain) > 1 {
		return chainFrames(f.Chain, false)
	}
	return strconv.FormatUint(f.Frame, 10)
}

// wrap writes label and text, wrapped at 100 columns with continuation lines
// indented like the text.
func wrap(b *strings.Builder, label, text string) {
	const width = 100
	indent := strings.Repeat(" ", len([]rune(label)))
	col := 0
	b.WriteString(label)
	col = len([]rune(label))
	for i, word := range strings.Fields(text) {
		n := len([]rune(word))
		if i > 0 && col+1+n > width {
			b.WriteString("\n" + indent)
			col = len(indent)
		} else if i > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(word)
		col += n
	}
	b.WriteByte('\n')
}
