package rules

import "github.com/cookiewatch/cookiewatch/httpparse"

// catalogue is the only list of rules; its order is display order. IDs are
// stable: reports, baselines and policies refer to them.
var catalogue = []Rule{
	{
		ID: "cleartext-set-cookie", Title: "Session cookie set over plaintext HTTP",
		CWE: 319, Severity: High, Confidence: Certain,
		Check: func(o Observation) bool { return o.Kind == KindSetCookie && o.Session && !o.TLS },
		Explanation: "The response that set this session cookie travelled without TLS. Anyone on the " +
			"path (shared Wi-Fi, a compromised router, a mirror port) reads the value and can replay it " +
			"to act as the user until the session ends.",
		Fix:    "Serve the site only over HTTPS (redirect HTTP to HTTPS, enable HSTS) and set the cookie with Secure.",
		Fires:  []string{"SID=31d4d96e407aad42; Path=/; Secure; HttpOnly"},
		Silent: nil, // any session Set-Cookie in plaintext fires; negatives are non-session and TLS cases in tests
	},
	{
		ID: "cleartext-cookie", Title: "Session cookie sent over plaintext HTTP",
		CWE: 319, Severity: High, Confidence: Certain,
		Check: func(o Observation) bool { return o.Kind == KindCookie && o.Session && !o.TLS },
		Explanation: "The browser sent this session cookie in a request without TLS. Anyone on the path " +
			"can copy it from the Cookie header and replay it from another machine to hijack the session " +
			"(\"sidejacking\").",
		Fix: "Serve the site only over HTTPS with HSTS, and set the cookie with Secure so browsers never " +
			"send it over plain HTTP.",
		Fires: []string{"Cookie: SID=31d4d96e407aad42"},
	},
	{
		ID: "missing-secure", Title: "Session cookie set without Secure",
		CWE: 614, Severity: Medium, Confidence: Certain,
		Check: func(o Observation) bool { return o.settable() && !o.SetCookie.Secure },
		Explanation: "Without Secure the browser also sends the cookie over plain HTTP, for example when " +
			"a user types the site name or follows an http:// link. An attacker on the network can trigger " +
			"such a request and read the cookie.",
		Fix:    "Add the Secure attribute (and serve the site over HTTPS).",
		Fires:  []string{"SID=31d4d96e407aad42; Path=/; HttpOnly", "SID=1; Securely"},
		Silent: []string{"SID=31d4d96e407aad42; Path=/; Secure; HttpOnly", "SID=1; SECURE", "SID=1; secure=no (browsers ignore the value)", "SID=1; Max-Age=0"},
	},
	{
		ID: "missing-httponly", Title: "Session cookie set without HttpOnly",
		CWE: 1004, Severity: Medium, Confidence: Certain,
		Check: func(o Observation) bool { return o.settable() && !o.SetCookie.HttpOnly },
		Explanation: "Without HttpOnly any script running in the page can read the cookie, so a single " +
			"cross-site scripting flaw lets an attacker steal the session.",
		Fix:    "Add the HttpOnly attribute.",
		Fires:  []string{"SID=31d4d96e407aad42; Path=/; Secure"},
		Silent: []string{"SID=31d4d96e407aad42; Secure; HttpOnly", "SID=1; httponly", "SID=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"},
	},
	{
		ID: "missing-samesite", Title: "Session cookie set without SameSite",
		CWE: 1275, Severity: Low, Confidence: Certain,
		Check: func(o Observation) bool {
			return o.settable() && o.SetCookie.SameSite == httpparse.SameSiteAbsent
		},
		Explanation: "Without an explicit SameSite attribute, browsers that do not default to Lax (and " +
			"Chrome during its first two minutes after the cookie is set) attach the cookie to requests " +
			"started by other sites, which enables cross-site request forgery.",
		Fix:    "Add SameSite=Lax (or Strict when the site never needs the cookie on cross-site navigation).",
		Fires:  []string{"SID=31d4d96e407aad42; Path=/; Secure; HttpOnly"},
		Silent: []string{"SID=1; Secure; HttpOnly; SameSite=Lax", "SID=1; samesite=strict", "SID=1; SameSite=None; Secure"},
	},
}

// Catalogue returns the rules in display order. The slice is a copy.
func Catalogue() []Rule {
	return append([]Rule(nil), catalogue...)
}

// ByID returns the rule with the given ID.
func ByID(id string) (Rule, bool) {
	for _, r := range catalogue {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}
