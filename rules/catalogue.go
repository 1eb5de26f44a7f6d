package rules

import (
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

// The three attacks every explanation comes back to.
const (
	scriptTheft  = "Script theft: a single cross-site scripting flaw lets injected JavaScript read document.cookie and send the session to the attacker."
	networkTheft = "Network theft: anyone on the path (shared Wi-Fi, a compromised router, a mirror port) reads cookies from plaintext HTTP and replays them to act as the user."
	crossSite    = "Cross-site requests: a page on another site makes the victim's browser send a request that carries the cookie, so the attacker acts with the victim's session (CSRF)."
)

// catalogue is the only list of rules; its order is display order. IDs are
// stable: reports, baselines and policies refer to them. Samples use the
// grammar of sample.go (a bare line is a Set-Cookie value on plaintext HTTP
// from shop.example).
var catalogue = []Rule{
	// Exposure on the wire.
	{
		ID: "cleartext-cookie", Title: "Session cookie sent over plaintext HTTP",
		CWE: 319, Severity: High, Confidence: Certain, Scope: SessionOnly, Setting: SettingTLS,
		kinds: kindsOf(KindCookie),
		Check: func(o *Observation) bool { return o.Kind == KindCookie && !o.TLS },
		Explanation: "The browser sent this session cookie in a request without TLS. " + networkTheft +
			" Copying the Cookie header is all it takes (\"sidejacking\").",
		Fix:    "Serve the site only over HTTPS with HSTS, and set the cookie with Secure so browsers never send it over plain HTTP.",
		Fires:  []string{"Cookie: SID=31d4d96e407aad42", "Cookie: theme=dark; PHPSESSID=9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f"},
		Silent: []string{"https Cookie: SID=31d4d96e407aad42", "Cookie: _ga=GA1.2.1234567890.1700000000; theme=dark"},
	},
	{
		ID: "cleartext-set-cookie", Title: "Session cookie set over plaintext HTTP",
		CWE: 319, Severity: High, Confidence: Certain, Scope: SessionOnly, Setting: SettingTLS,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool { return o.Kind == KindSetCookie && !o.TLS },
		Explanation: "The response that set this session cookie travelled without TLS. " + networkTheft +
			" The session is exposed from its first response, whatever attributes the cookie carries.",
		Fix:    "Serve the site only over HTTPS (redirect HTTP to HTTPS, enable HSTS) and set the cookie with Secure.",
		Fires:  []string{"SID=31d4d96e407aad42; Path=/; Secure; HttpOnly", "sessionid=0f8e1c6a3b5d47e29c1a0b2d3e4f5a6b; HttpOnly"},
		Silent: []string{"https SID=31d4d96e407aad42; Path=/; Secure; HttpOnly", "theme=dark; Path=/"},
	},
	{
		ID: "cleartext-authorization", Title: "Authorization header sent over plaintext HTTP",
		CWE: 523, Severity: High, Confidence: Certain, Scope: RequestScope, Setting: SettingTLS,
		kinds: kindsOf(KindAuthorization),
		Check: func(o *Observation) bool { return o.Kind == KindAuthorization && !o.TLS },
		Explanation: "The request carried credentials in an Authorization (or Proxy-Authorization) header " +
			"without TLS. Basic credentials are a password in base64; Bearer tokens work for anyone who " +
			"holds them; Digest and NTLM responses can be cracked offline or relayed. " + networkTheft +
			" cookiewatch reports only the scheme and never prints the credentials.",
		Fix:   "Serve the API or site only over HTTPS, and rotate every credential seen in this capture.",
		Fires: []string{"Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", "Proxy-Authorization: NTLM TlRMTVNTUAABAAAA"},
		Silent: []string{"https Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l",
			"Cookie: theme=dark"},
	},
	{
		ID: "session-id-in-url", Title: "Session ID in the request URL",
		CWE: 598, Severity: Medium, Plaintext: High, Confidence: Firm, Scope: SessionOnly, Setting: SettingURL,
		kinds: kindsOf(KindURLParam),
		Check: func(o *Observation) bool { return o.Kind == KindURLParam && len(o.Value) > 8 },
		Explanation: "The session ID travels in the URL (;jsessionid=, ?PHPSESSID=, ?sid= …). URLs end up in " +
			"browser history, proxy and server logs, bookmarks, shared links and Referer headers sent to other " +
			"sites, so the session leaks to whoever reads any of them; it also invites session fixation " +
			"(an attacker sends a link with a session ID they know). Over plaintext HTTP it is also network theft.",
		Fix: "Track sessions with cookies only and turn off URL rewriting.",
		Fires: []string{"GET /shop/cart;jsessionid=A1B2C3D4E5F6A7B8C9D0", "GET /index.php?PHPSESSID=9f3c0d1e2b4a5c6d&page=2",
			"GET /app?sid=8c1f5e0d2b7a"},
		Silent: []string{"GET /index.php?page=2&sort=name", "GET /app?sid=12", "GET /callback?code=4f1e2d3c4b5a69788&state=abcdef123456"},
	},
	{
		ID: "session-id-in-referer", Title: "Session ID leaked to another host in a Referer",
		CWE: 598, Severity: Medium, Confidence: Firm, Scope: SessionOnly, Setting: SettingURL,
		kinds: kindsOf(KindRefererParam),
		Check: func(o *Observation) bool {
			return o.Kind == KindRefererParam && len(o.Value) > 8 && o.RefererHost != "" && o.RefererHost != o.Host
		},
		Explanation: "A page whose URL carries a session ID loaded a resource from (or linked to) another host, " +
			"and the browser sent that URL in the Referer header. The other host, and its logs, now hold a " +
			"working session ID for the first site.",
		Fix:    "Keep session IDs out of URLs (cookies only), and send Referrer-Policy: strict-origin-when-cross-origin (or no-referrer).",
		Fires:  []string{"Host: cdn.tracker.example\nReferer: http://shop.example/cart;jsessionid=A1B2C3D4E5F6A7B8C9D0"},
		Silent: []string{"Referer: http://shop.example/cart;jsessionid=A1B2C3D4E5F6A7B8C9D0", "Host: cdn.tracker.example\nReferer: http://shop.example/cart?page=2"},
	},

	// Attributes.
	{
		ID: "missing-secure", Title: "Cookie set without Secure",
		CWE: 614, Severity: Medium, Confidence: Certain, Scope: AnyCookie, Setting: SettingSecure,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool { return o.setCookie() && !o.SetCookie.Secure },
		Explanation: "Without Secure the browser also sends the cookie over plain HTTP, for example when a " +
			"user types the site name or follows an http:// link, and an attacker on the network can cause " +
			"such a request at will. " + networkTheft,
		Fix:    "Add the Secure attribute (and serve the site over HTTPS).",
		Fires:  []string{"SID=31d4d96e407aad42; Path=/; HttpOnly", "SID=1; Securely"},
		Silent: []string{"SID=31d4d96e407aad42; Path=/; Secure; HttpOnly", "SID=1; SECURE", "SID=1; secure=no (browsers ignore the value)", "SID=1; Max-Age=0"},
	},
	{
		ID: "missing-httponly", Title: "Cookie set without HttpOnly",
		CWE: 1004, Severity: Medium, Confidence: Certain, Scope: AnyCookie, Setting: SettingHttpOnly,
		kinds:       kindsOf(KindSetCookie),
		Check:       func(o *Observation) bool { return o.setCookie() && !o.SetCookie.HttpOnly },
		Explanation: "Without HttpOnly any script running in the page can read the cookie. " + scriptTheft,
		Fix:         "Add the HttpOnly attribute.",
		Fires:       []string{"SID=31d4d96e407aad42; Path=/; Secure", "JSESSIONID=6F1C0A2B3D4E5F60718293A4B5C6D7E8; Path=/shop"},
		Silent:      []string{"SID=31d4d96e407aad42; Secure; HttpOnly", "SID=1; httponly", "SID=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"},
	},
	{
		ID: "missing-samesite", Title: "Cookie set without SameSite",
		CWE: 1275, Severity: Low, Confidence: Certain, Scope: AnyCookie, Setting: SettingSameSite,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool {
			return o.setCookie() && o.SetCookie.SameSite == httpparse.SameSiteAbsent
		},
		Explanation: "Without an explicit SameSite attribute, browsers that do not default to Lax (Safari, " +
			"Firefox, and Chrome during the first two minutes after the cookie is set for top-level POSTs) " +
			"attach the cookie to requests started by other sites. " + crossSite,
		Fix:    "Add SameSite=Lax (or Strict when the site never needs the cookie on cross-site navigation).",
		Fires:  []string{"SID=31d4d96e407aad42; Path=/; Secure; HttpOnly"},
		Silent: []string{"SID=1; Secure; HttpOnly; SameSite=Lax", "SID=1; samesite=strict", "SID=1; SameSite=None; Secure"},
	},
	{
		ID: "samesite-none", Title: "Cookie set with SameSite=None",
		CWE: 1275, Severity: Info, Confidence: Certain, Scope: AnyCookie, Setting: SettingSameSite,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool { return o.setCookie() && o.SetCookie.SameSite == httpparse.SameSiteNone },
		Explanation: "SameSite=None asks browsers to send the cookie on every cross-site request. That is " +
			"needed for embedded widgets and some single sign-on flows, but for an ordinary session it " +
			"gives up the browser's protection against cross-site requests. " + crossSite,
		Fix:    "Use SameSite=Lax unless the cookie must work inside third-party frames or cross-site POSTs; then keep None, Secure and add Partitioned where it fits.",
		Fires:  []string{"SID=1; Secure; HttpOnly; SameSite=None"},
		Silent: []string{"SID=1; Secure; HttpOnly; SameSite=Lax", "SID=1; Secure"},
	},
	{
		ID: "invalid-samesite", Title: "Cookie set with an invalid SameSite value",
		CWE: 1275, Severity: Low, Confidence: Certain, Scope: AnyCookie, Setting: SettingSameSite,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool { return o.setCookie() && o.SetCookie.SameSite == httpparse.SameSiteInvalid },
		Explanation: "The SameSite attribute has an empty or unknown value. Browsers treat it as if it were " +
			"absent (Lax by default in Chrome, no restriction in others), so the protection the server " +
			"meant to ask for is not there. " + crossSite,
		Fix:    "Use exactly SameSite=Lax, SameSite=Strict or SameSite=None.",
		Fires:  []string{"SID=1; Secure; SameSite=Secure", "SID=1; SameSite", "SID=1; SameSite=true"},
		Silent: []string{"SID=1; samesite=LAX", "SID=1"},
	},
	{
		ID: "broad-domain", Title: "Cookie shared with every subdomain (Domain attribute)",
		CWE: 565, Severity: Low, Confidence: Firm, Scope: AnyCookie, Setting: SettingDomain,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool {
			return o.setCookie() && o.SetCookie.HasDomain && o.SetCookie.Domain != "" && !isPublicSuffix(o.SetCookie.Domain)
		},
		Explanation: "A Domain attribute, even one naming the host itself, makes the cookie go to every " +
			"subdomain too. Any of them that is compromised, taken over (a dangling DNS record) or run " +
			"by someone else can read the session, or overwrite it to fix a session the attacker knows.",
		Fix:    "Drop the Domain attribute (a host-only cookie) unless subdomains really need the session.",
		Fires:  []string{"SID=1; Domain=shop.example; Secure", "Host: www.shop.example\nSID=1; Domain=.shop.example"},
		Silent: []string{"SID=1; Path=/; Secure", "Host: shop.co.uk\nSID=1; Domain=co.uk"},
	},
	{
		ID: "public-suffix-domain", Title: "Cookie Domain is a public suffix (browsers reject it)",
		CWE: 565, Severity: Low, Confidence: Certain, Scope: AnyCookie, Setting: SettingDomain,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool {
			d := o.SetCookie.Domain
			return o.Kind == KindSetCookie && o.SetCookie.Err == nil && o.SetCookie.HasDomain && d != "" &&
				isPublicSuffix(d) && d != o.Host
		},
		Explanation: "The Domain attribute names a public suffix (co.uk, github.io …), a domain under which " +
			"unrelated parties register names. Browsers reject such a cookie outright, so users never get " +
			"it; had they accepted it, every site under the suffix could read and overwrite it.",
		Fix:    "Drop the Domain attribute or use the site's own registrable domain.",
		Fires:  []string{"Host: shop.co.uk\nSID=1; Domain=co.uk", "Host: app.github.io\nSID=1; Domain=github.io"},
		Silent: []string{"Host: shop.co.uk\nSID=1; Domain=shop.co.uk", "SID=1"},
	},
	{
		ID: "no-host-prefix", Title: "Host-only session cookie without the __Host- prefix",
		CWE: 384, Severity: Info, Confidence: Firm, Scope: SessionOnly, Setting: SettingName,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool {
			return o.setCookie() && !o.SetCookie.HasDomain && !hasPrefixFold(o.Name, "__host-")
		},
		Explanation: "A cookie named __Host-… is accepted only with Secure, Path=/ and no Domain, from an " +
			"HTTPS page. Without the prefix, a related subdomain or a network attacker (over plain HTTP) " +
			"can plant a cookie of the same name that shadows this one: session fixation and login CSRF.",
		Fix:    "Rename the cookie __Host-<name> and set it with Secure, Path=/ and no Domain.",
		Fires:  []string{"SID=1; Path=/; Secure; HttpOnly"},
		Silent: []string{"__Host-SID=1; Path=/; Secure; HttpOnly", "SID=1; Domain=shop.example; Secure", "theme=dark"},
	},

	// Rejected or ignored by browsers.
	{
		ID: "secure-over-http", Title: "Secure cookie set over plaintext HTTP (browsers reject it)",
		CWE: 614, Severity: Medium, Confidence: Certain, Scope: AnyCookie, Setting: SettingTLS,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool { return o.setCookie() && o.SetCookie.Secure && !o.TLS },
		Explanation: "Browsers ignore a Set-Cookie with Secure that arrives over plain HTTP (RFC 6265bis), so " +
			"users never get the cookie; the value still crossed the network in cleartext. The server's " +
			"configuration believes in a protection the deployment does not deliver.",
		Fix:    "Serve the site over HTTPS; the Secure attribute is right, the transport is wrong.",
		Fires:  []string{"PHPSESSID=9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f; path=/; secure; HttpOnly; SameSite=Lax"},
		Silent: []string{"https SID=1; Secure", "SID=1; HttpOnly"},
	},
	{
		ID: "samesite-none-insecure", Title: "SameSite=None without Secure (browsers reject it)",
		CWE: 1275, Severity: Medium, Confidence: Certain, Scope: AnyCookie, Setting: SettingSecure,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool {
			return o.setCookie() && o.SetCookie.SameSite == httpparse.SameSiteNone && !o.SetCookie.Secure
		},
		Explanation: "Current browsers reject a SameSite=None cookie that lacks Secure, so users never get it; " +
			"older browsers accept it and send it on every cross-site request over plain HTTP too. " + crossSite,
		Fix:    "Add Secure to every SameSite=None cookie (or use SameSite=Lax).",
		Fires:  []string{"SID=1; SameSite=None; HttpOnly"},
		Silent: []string{"SID=1; SameSite=None; Secure", "SID=1; SameSite=Lax"},
	},
	{
		ID: "secure-prefix-violation", Title: "__Secure- cookie that browsers reject",
		CWE: 565, Severity: Medium, Confidence: Certain, Scope: AnyCookie, Setting: SettingSecure,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool {
			return o.setCookie() && hasPrefixFold(o.Name, "__secure-") && (!o.SetCookie.Secure || !o.TLS)
		},
		Explanation: "A cookie whose name starts with __Secure- (in any case) is accepted only with Secure and " +
			"from an HTTPS response. This one breaks that rule, so browsers drop it and users never get it.",
		Fix:    "Set __Secure- cookies with Secure, from HTTPS responses only.",
		Fires:  []string{"__Secure-SID=1; Path=/", "__secure-sid=1; Secure", "https __SECURE-SID=1; HttpOnly"},
		Silent: []string{"https __Secure-SID=1; Secure", "SID=1; Secure"},
	},
	{
		ID: "host-prefix-violation", Title: "__Host- cookie that browsers reject",
		CWE: 565, Severity: Medium, Confidence: Certain, Scope: AnyCookie, Setting: SettingName,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool {
			c := o.SetCookie
			return o.setCookie() && hasPrefixFold(o.Name, "__host-") && (!c.Secure || c.HasDomain || c.Path != "/" || !o.TLS)
		},
		Explanation: "A cookie whose name starts with __Host- (in any case) is accepted only with Secure, " +
			"Path=/, no Domain, from an HTTPS response. This one breaks that rule, so browsers drop it.",
		Fix:    "Set __Host- cookies with Secure and Path=/, without Domain, from HTTPS responses only.",
		Fires:  []string{"https __Host-SID=1; Secure; Path=/; Domain=shop.example", "https __Host-SID=1; Secure", "__Host-SID=1; Secure; Path=/"},
		Silent: []string{"https __Host-SID=1; Secure; Path=/", "https __host-sid=1; secure; path=/; HttpOnly"},
	},
	{
		ID: "http-prefix-violation", Title: "__Http- or __Host-Http- cookie that browsers reject",
		CWE: 1004, Severity: Medium, Confidence: Certain, Scope: AnyCookie, Setting: SettingHttpOnly,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool {
			c := o.SetCookie
			return o.setCookie() && (hasPrefixFold(o.Name, "__http-") || hasPrefixFold(o.Name, "__host-http-")) &&
				(!c.Secure || !c.HttpOnly || !o.TLS)
		},
		Explanation: "The __Http- and __Host-Http- prefixes (the layered-cookies draft) promise a cookie that " +
			"only the server set: browsers accept it only with Secure and HttpOnly from an HTTPS response " +
			"(__Host-Http- also with Path=/ and no Domain), and scripts cannot create it. This one breaks " +
			"that rule, so browsers drop it.",
		Fix:    "Set __Http- cookies with Secure and HttpOnly from HTTPS responses only.",
		Fires:  []string{"https __Http-SID=1; Secure", "__Host-Http-SID=1; Secure; HttpOnly; Path=/"},
		Silent: []string{"https __Http-SID=1; Secure; HttpOnly", "https __Host-Http-SID=1; Secure; HttpOnly; Path=/"},
	},
	{
		ID: "partitioned-insecure", Title: "Partitioned cookie without Secure (browsers reject it)",
		CWE: 614, Severity: Low, Confidence: Certain, Scope: AnyCookie, Setting: SettingSecure,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool { return o.setCookie() && o.SetCookie.Partitioned && !o.SetCookie.Secure },
		Explanation: "Browsers that support CHIPS accept a Partitioned cookie only with Secure; this one is " +
			"dropped, so the embedded feature it was meant for does not work, and browsers that ignore " +
			"Partitioned store it unpartitioned and send it over plain HTTP.",
		Fix:    "Add Secure (and SameSite=None if it must work in third-party frames).",
		Fires:  []string{"SID=1; Partitioned; SameSite=None"},
		Silent: []string{"https SID=1; Secure; Partitioned; SameSite=None", "SID=1"},
	},
	{
		ID: "malformed-set-cookie", Title: "Malformed Set-Cookie line",
		CWE: 20, Severity: Low, Confidence: Certain, Scope: AnyCookie, Setting: SettingNone,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool {
			return o.Kind == KindSetCookie && (o.SetCookie.Err != nil || o.Name == "" || o.Duplicate || longAttribute(o.SetCookie.Raw))
		},
		Explanation: "Browsers ignore this line or part of it: name and value over 4096 bytes, an attribute " +
			"value over 1024 bytes, control characters, a cookie without a name, or the same cookie (name, " +
			"domain and path) set twice in one response, where only the last one counts. The server's idea " +
			"of the session and the browser's differ, which breaks logins or silently drops the attributes " +
			"meant to protect the cookie.",
		Fix: "Emit one well-formed Set-Cookie per cookie: a name, a value of cookie-octets, attributes within the limits.",
		Fires: []string{"=9f3c0d1e2b4a5c6d", "SID=1; Path=/\nSID=2; Path=/", "SID=1; Path=/" + strings.Repeat("a", 1030),
			"SID=" + strings.Repeat("x", 4100), "SID=a\x01b"},
		Silent: []string{"SID=1; Path=/\nSID=2; Path=/admin", "SID=1; Secure; HttpOnly"},
	},

	// Lifetime and token quality.
	{
		ID: "persistent-session", Title: "Session cookie stored on disk (Max-Age or Expires)",
		CWE: 539, Severity: Low, Confidence: Certain, Scope: SessionOnly, Setting: SettingLifetime,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool {
			return o.setCookie() && (o.SetCookie.HasMaxAge || o.SetCookie.HasExpires)
		},
		Explanation: "With Max-Age or Expires the browser keeps the session on disk after it is closed, so it " +
			"survives on shared computers and in backups, and logging out of the browser does not end it.",
		Fix:    "Drop Max-Age and Expires from the session cookie (expire sessions on the server).",
		Fires:  []string{"SID=1; Max-Age=3600", "sessionid=abc; expires=Wed, 01 Jan 2031 00:00:00 GMT"},
		Silent: []string{"SID=1; Path=/", "theme=dark; Max-Age=31536000", "SID=; Max-Age=0"},
	},
	{
		ID: "long-lived-session", Title: "Session cookie lives longer than the threshold",
		CWE: 613, Severity: Medium, Confidence: Certain, Scope: SessionOnly, Setting: SettingLifetime,
		kinds: kindsOf(KindSetCookie),
		Check: func(o *Observation) bool { return o.setCookie() && o.Lifetime > o.Threshold },
		Explanation: "The session cookie's lifetime (Max-Age wins over Expires; browsers cap it at 400 days) " +
			"is longer than the threshold (24 hours unless the policy says otherwise). A stolen or " +
			"forgotten session stays usable for that long.",
		Fix: "Keep session cookies to hours, and expire idle sessions on the server.",
		Fires: []string{"SID=1; Max-Age=2592000", "SID=1; Expires=Wed, 01 Jan 2031 00:00:00 GMT",
			"SID=1; Max-Age=999999999999"},
		Silent: []string{"SID=1; Max-Age=3600", "SID=1; Max-Age=3600; Expires=Wed, 01 Jan 2031 00:00:00 GMT", "SID=1"},
	},
	{
		ID: "weak-session-id", Title: "Session ID looks short or guessable",
		CWE: 331, Severity: Medium, Confidence: Tentative, Scope: SessionOnly, Setting: SettingIDLength,
		kinds: kindsOf(KindSetCookie, KindCookie),
		Check: func(o *Observation) bool {
			if o.Kind != KindCookie && !(o.setCookie() && o.Kind == KindSetCookie) {
				return false
			}
			v := strings.Trim(o.Value, `"`)
			return v != "" && (len(v) < 16 || EntropyBits(v) < 64)
		},
		Explanation: "The session value is shorter than 16 characters or its characters look too regular " +
			"for 64 bits of entropy (an estimate from one value: length times the bits per character of " +
			"its alphabet, or of the characters actually seen when they repeat). A guessable session ID " +
			"can be found by trying values, without any theft.",
		Fix:    "Generate session IDs with a cryptographic random generator, 128 bits or more.",
		Fires:  []string{"SID=12345", "PHPSESSID=aaaaaaaaaaaaaaaaaaaaaaaa", "Cookie: sessionid=1001"},
		Silent: []string{"PHPSESSID=9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f", "SID=; Max-Age=0", "theme=1"},
	},
	{
		ID: "default-session-name", Title: "Framework's default session cookie name",
		CWE: 497, Severity: Info, Confidence: Firm, Scope: SessionOnly, Setting: SettingName,
		kinds: kindsOf(KindSetCookie, KindCookie),
		Check: func(o *Observation) bool {
			return (o.Kind == KindSetCookie || o.Kind == KindCookie) && !o.Deletion && o.Class.Owner != "" && o.Class.Owner != "generic" &&
				!hasPrefixFold(o.Name, "__host-") && !hasPrefixFold(o.Name, "__secure-")
		},
		Explanation: "The cookie keeps its framework's default name (PHPSESSID, JSESSIONID, ASP.NET_SessionId, " +
			"CFID/CFTOKEN …), which tells an attacker the stack and version family to aim known exploits at.",
		Fix:    "Rename the session cookie, ideally to __Host-<name>.",
		Fires:  []string{"PHPSESSID=9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f; Secure", "Cookie: JSESSIONID=6F1C0A2B3D4E5F60718293A4B5C6D7E8"},
		Silent: []string{"__Host-PHPSESSID=9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f; Secure; Path=/", "SID=9f3c0d1e2b4a5c6d", "app_auth=9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f"},
	},
}

// isPublicSuffix reports whether domain is itself a public suffix (ICANN or
// private section of the Public Suffix List, as browsers use it).
func isPublicSuffix(domain string) bool {
	ps, _ := publicsuffix.PublicSuffix(domain)
	return ps == domain
}

// hasPrefixFold reports whether s starts with prefix, ASCII case-insensitively.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// longAttribute reports whether a Set-Cookie line has an attribute whose
// value is over 1024 bytes (RFC 6265bis ignores such attributes).
func longAttribute(raw string) bool {
	_, attrs, _ := strings.Cut(raw, ";")
	for attrs != "" {
		var av string
		av, attrs, _ = strings.Cut(attrs, ";")
		_, v, _ := strings.Cut(av, "=")
		if len(strings.TrimSpace(v)) > 1024 {
			return true
		}
	}
	return false
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
