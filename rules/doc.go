package rules

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Markdown renders the catalogue, the remediation table and the
// session-cookie lists as docs/rules.md. TestRulesDoc keeps the file in step
// with the declarations (go test ./rules -run TestRulesDoc -update rewrites it).
func Markdown() string {
	var b strings.Builder
	b.WriteString("# cookiewatch rules\n\n")
	b.WriteString("<!-- Generated from rules/catalogue.go, rules/framework.go and rules/session.go by\n" +
		"     `go test ./rules -run TestRulesDoc -update`. Do not edit by hand. -->\n\n")
	b.WriteString("Severities are for a session cookie. Rules whose scope is *every cookie* report a cookie that is\n" +
		"not classified as a session cookie at **info** (or not at all with `non_session: off` in the policy).\n" +
		"A deletion (Max-Age <= 0, or Expires before the capture time of the response) is judged only by\n" +
		"`cleartext-set-cookie` (at info) and `malformed-set-cookie`.\n\n")
	b.WriteString("| ID | severity | confidence | CWE | scope | title |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, r := range catalogue {
		sev := r.Severity.String()
		if r.Plaintext != SeverityInvalid {
			sev += " (" + r.Plaintext.String() + " over plaintext)"
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | [%d](https://cwe.mitre.org/data/definitions/%d.html) | %s | %s |\n",
			r.ID, r.ID, sev, r.Confidence, r.CWE, r.CWE, r.Scope, r.Title)
	}
	b.WriteString("\n")
	for _, r := range catalogue {
		b.WriteString(RuleMarkdown(r))
	}
	b.WriteString("## Remediation by framework\n\n")
	b.WriteString("Each finding names the framework that most likely set the cookie: a stack-specific cookie name\n" +
		"first, then the response's `X-Powered-By` and `Server` headers (for a request, those last seen from the\n" +
		"same server), then a framework's generic default name (`session`, `sessionid`), else *generic*.\n\n")
	b.WriteString("| setting | " + strings.Join(frameworkNames(), " | ") + " |\n|---" + strings.Repeat("|---", len(frameworks)) + "|\n")
	for s := SettingTLS; s <= SettingIDLength; s++ {
		fmt.Fprintf(&b, "| %s |", settingNames[s])
		for _, f := range frameworks {
			fmt.Fprintf(&b, " %s |", strings.ReplaceAll(f.Fixes[s], "|", `\|`))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## Session-cookie classification\n\n")
	b.WriteString("Tiers, in order; the first that decides wins, and its confidence and reason go into every finding:\n\n" +
		"1. the policy's `session` names and patterns, then its `not_session` names and patterns;\n" +
		"2. known session cookie names of frameworks and products (below; matched case-insensitively after a\n" +
		"   `__Host-`, `__Secure-`, `__Http-` or `__Host-Http-` prefix), Drupal `SESS<32+ hex>`, Rails `_<app>_session`: certain;\n" +
		"3. known non-session cookies (below): certain that they are *not* session cookies;\n" +
		"4. name patterns: a word containing `csrf` or `xsrf` marks a CSRF token, not a session cookie; otherwise a word of the name (split at anything but letters and digits) that starts with `sess`,\n" +
		"   ends with `session`/`sessid`/`sessionid`, or is one of sid, ssid, auth, authtoken, authtkt, token,\n" +
		"   accesstoken, jwt, login, loggedin, logintoken, rememberme, remember, sso, ssotoken, identity, idtoken,\n" +
		"   refreshtoken: firm;\n" +
		"5. value shape, for a Set-Cookie with HttpOnly only (long random values without it are, on real traffic,\n" +
		"   mostly trackers and load-balancer cookies; request cookies carry no attributes and skip this tier):\n" +
		"   24 or more characters, not a number or a dotted/delimited record, with an estimated\n" +
		"   entropy of 96 bits or more: tentative;\n" +
		"6. otherwise not a session cookie.\n\n" +
		"`--all-cookies` makes every cookie a session cookie and keeps the reason the tiers gave.\n" +
		"URL and Referer parameters count as session tokens when tier 2 (or the policy) names them, or when the\n" +
		"name is `sid`, `sessid`, `sessionid`, `session_id` or `session` (case-insensitive).\n\n")
	b.WriteString("### Known session cookie names\n\n| name | owner |\n| --- | --- |\n")
	for _, n := range slices.Sorted(maps.Keys(sessionNames)) {
		fmt.Fprintf(&b, "| `%s` | %s |\n", n, sessionNames[n])
	}
	for _, p := range sessionPrefixes {
		fmt.Fprintf(&b, "| `%s*` | %s |\n", p.prefix, p.owner)
	}
	b.WriteString("\n### Known non-session cookies\n\n| name | what it is |\n| --- | --- |\n")
	for _, n := range slices.Sorted(maps.Keys(nonSessionNames)) {
		fmt.Fprintf(&b, "| `%s` | %s |\n", n, nonSessionNames[n])
	}
	for _, p := range nonSessionPrefixes {
		fmt.Fprintf(&b, "| `%s*` | %s |\n", p.prefix, p.owner)
	}
	return b.String()
}

var settingNames = map[Setting]string{
	SettingTLS: "HTTPS only", SettingSecure: "Secure", SettingHttpOnly: "HttpOnly", SettingSameSite: "SameSite",
	SettingLifetime: "lifetime", SettingName: "name / prefix", SettingDomain: "Domain", SettingURL: "IDs in URLs",
	SettingIDLength: "ID generation",
}

func frameworkNames() []string {
	var out []string
	for _, f := range frameworks {
		out = append(out, f.Name)
	}
	return out
}

// RuleMarkdown renders one rule's section of docs/rules.md (also printed by
// `cookiewatch rules ID`).
func RuleMarkdown(r Rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n**%s**. Severity %s", r.ID, r.Title, r.Severity)
	if r.Plaintext != SeverityInvalid {
		fmt.Fprintf(&b, " (%s over plaintext)", r.Plaintext)
	}
	fmt.Fprintf(&b, ", confidence %s, CWE-%d, judges %s.\n\n", r.Confidence, r.CWE, r.Scope)
	fmt.Fprintf(&b, "%s\n\n**Fix.** %s", r.Explanation, r.Fix)
	if r.Setting != SettingNone {
		fmt.Fprintf(&b, " Framework-specific fixes: the *%s* row of [Remediation by framework](#remediation-by-framework).", settingNames[r.Setting])
	}
	b.WriteString("\n\nFires on:\n\n")
	for _, s := range r.Fires {
		fmt.Fprintf(&b, "- `%s`\n", sampleText(s))
	}
	b.WriteString("\nSilent on:\n\n")
	for _, s := range r.Silent {
		fmt.Fprintf(&b, "- `%s`\n", sampleText(s))
	}
	b.WriteString("\n")
	return b.String()
}

// sampleText shows a sample on one line, long runs shortened.
func sampleText(s string) string {
	s = strings.ReplaceAll(s, "\n", " ⏎ ")
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] == s[i] {
			j++
		}
		if j-i > 12 {
			fmt.Fprintf(&b, "%c…(%d×)", s[i], j-i)
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	return strings.ReplaceAll(strings.ReplaceAll(b.String(), "\x01", `\x01`), "`", "'")
}
