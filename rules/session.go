package rules

import (
	"hash/maphash"
	"regexp"
	"strings"
	"sync/atomic"
)

// Classification is ordered; the first tier that decides wins (docs/sessions.md):
//
//  1. the policy's session and non-session names and patterns;
//  2. known session cookie names of frameworks and products (sessionNames,
//     sessionPrefixes, Drupal SESS<hex>, Rails _<app>_session): certain;
//  3. known non-session cookies (analytics, preferences, consent, CSRF,
//     load-balancer affinity): certain that they are not session cookies;
//  4. name patterns: a word with csrf or xsrf is not a session cookie; a
//     word starting with "sess", or sid, auth, token, login, …, is: firm;
//  5. value shape (a long, high-entropy value of a Set-Cookie with
//     HttpOnly, see shapeValue): tentative;
//  6. otherwise not a session cookie.
//
// --all-cookies makes every cookie a session cookie and keeps the reason the
// tiers gave.

// sessionNames are cookie names that well-known frameworks and products use
// for their session identifier, matched case-insensitively after stripping a
// __Host- or __Secure- prefix. Each entry names its owner.
var sessionNames = map[string]string{
	"phpsessid":                        "PHP",
	"jsessionid":                       "Java servlet",
	"jsessionidsso":                    "Java servlet SSO",
	"asp.net_sessionid":                "ASP.NET",
	".aspxauth":                        "ASP.NET forms authentication",
	".aspnetcore.session":              "ASP.NET Core",
	".aspnetcore.cookies":              "ASP.NET Core authentication",
	".aspnetcore.identity.application": "ASP.NET Core Identity",
	"sessionid":                        "Django",
	"session":                          "Flask",
	"session_id":                       "generic",
	"sessid":                           "generic",
	"sid":                              "generic",
	"connect.sid":                      "Express (express-session)",
	"express.sid":                      "Express",
	"express:sess":                     "Express (cookie-session)",
	"koa.sess":                         "Koa",
	"koa:sess":                         "Koa",
	"laravel_session":                  "Laravel",
	"ci_session":                       "CodeIgniter",
	"cfid":                             "ColdFusion",
	"cftoken":                          "ColdFusion",
	"play_session":                     "Play Framework",
	"rack.session":                     "Rack",
	"_session_id":                      "Rails",
	"symfony":                          "Symfony",
	"mojolicious":                      "Mojolicious",
	"beegosessionid":                   "Beego",
	"gorilla_session":                  "Go gorilla/sessions",
	"rememberme":                       "Apache Shiro remember-me",
	"auth_tkt":                         "Pyramid / mod_auth_tkt",
	"mod_auth_openidc_session":         "mod_auth_openidc",
	"keycloak_session":                 "Keycloak",
	"keycloak_identity":                "Keycloak",
	"kc_restart":                       "Keycloak",
	"_shibsession":                     "Shibboleth",
	"wordpress_logged_in":              "WordPress",
	"dvwasession":                      "DVWA",
	"jwt_session":                      "generic JWT",
	"_oauth2_proxy":                    "oauth2-proxy",
	"authservice_session":              "Istio authservice",
	"smsession":                        "SiteMinder (CA/Broadcom SSO)",
	"pd-s-session-id":                  "IBM Security Verify Access (WebSEAL)",
	"pd-h-session-id":                  "IBM Security Verify Access (WebSEAL)",
	"obssocookie":                      "Oracle Access Manager",
	"oamauthncookie":                   "Oracle Access Manager",
	"iplanetdirectorypro":              "ForgeRock / OpenAM",
	"castgc":                           "Apereo CAS",
	"mrhsession":                       "F5 BIG-IP APM",
	"lastmrh_session":                  "F5 BIG-IP APM",
	"grafana_session":                  "Grafana",
	"phpmyadmin":                       "phpMyAdmin",
	"roundcube_sessid":                 "Roundcube",
	"roundcube_sessauth":               "Roundcube",
	"moodlesession":                    "Moodle",
	"frontend":                         "Magento",
	"adminhtml":                        "Magento admin",
	"zm_auth_token":                    "Zimbra",
}

// sessionPrefixes are name prefixes that mark session cookies whatever follows.
var sessionPrefixes = []struct{ prefix, owner string }{
	{"aspsessionid", "Classic ASP"},          // ASPSESSIONIDQQGGGNCG
	{"wordpress_logged_in_", "WordPress"},    // wordpress_logged_in_<hash>
	{"wordpress_sec_", "WordPress"},          // wordpress_sec_<hash>
	{"_shibsession_", "Shibboleth"},          // _shibsession_<hash>
	{"mod_auth_openidc_session", "OpenIDC"},  // chunked variants
	{"jsessionid.", "Jenkins (Jetty)"},       // JSESSIONID.<hash>
	{"pma_auth-", "phpMyAdmin"},              // pmaAuth-1
	{"pmaauth-", "phpMyAdmin"},               // pmaAuth-1
	{"remember_web_", "Laravel remember-me"}, // remember_web_<hash>
}

// nonSessionNames are cookies known not to carry a session: they are not
// called session cookies even when their name contains "session" or "token".
var nonSessionNames = map[string]string{
	"_ga": "analytics (Google Analytics)", "_gid": "analytics (Google Analytics)", "_gat": "analytics (Google Analytics)",
	"_gcl_au": "advertising (Google Ads)", "_fbp": "advertising (Facebook)", "_fbc": "advertising (Facebook)",
	"__utma": "analytics (Urchin/GA)", "__utmb": "analytics (Urchin/GA)", "__utmc": "analytics (Urchin/GA)",
	"__utmz": "analytics (Urchin/GA)", "__utmv": "analytics (Urchin/GA)", "__qca": "analytics (Quantcast)",
	"ai_session": "telemetry (Application Insights)", "ai_user": "telemetry (Application Insights)",
	"_hjsessionuser": "analytics (Hotjar)", "_hjsession": "analytics (Hotjar)", "_hjid": "analytics (Hotjar)",
	"mp_mixpanel": "analytics (Mixpanel)", "s_cc": "analytics (Adobe)", "s_sq": "analytics (Adobe)",
	"s_vi": "analytics (Adobe)", "s_fid": "analytics (Adobe)", "amplitude_id": "analytics (Amplitude)",
	"theme": "preference", "lang": "preference", "language": "preference", "locale": "preference",
	"timezone": "preference", "tz": "preference", "currency": "preference", "dark_mode": "preference",
	"cookieconsent_status": "consent", "cookie_consent": "consent", "cookielawinfo-checkbox-necessary": "consent",
	"cookieconsent": "consent", "optanonconsent": "consent (OneTrust)", "optanonalertboxclosed": "consent (OneTrust)",
	"euconsent-v2": "consent (IAB TCF)", "euconsent": "consent (IAB TCF)", "cmplz_consent": "consent",
	"csrftoken": "CSRF token (Django)", "xsrf-token": "CSRF token (Angular / Laravel)", "_csrf": "CSRF secret (csurf)",
	"csrf_token": "CSRF token", "_gorilla_csrf": "CSRF token (gorilla/csrf)", "__requestverificationtoken": "CSRF token (ASP.NET)",
	"heroku-session-affinity": "load-balancer affinity (Heroku)", "awsalb": "load-balancer affinity (AWS ALB)",
	"awsalbcors": "load-balancer affinity (AWS ALB)", "awselb": "load-balancer affinity (AWS ELB)",
	"awselbcors": "load-balancer affinity (AWS ELB)", "arraffinity": "load-balancer affinity (Azure)",
	"arraffinitysamesite": "load-balancer affinity (Azure)", "serverid": "load-balancer affinity (HAProxy)",
	"route": "load-balancer affinity", "routeid": "load-balancer affinity (Apache mod_proxy_balancer)",
	"sticky": "load-balancer affinity", "incap_ses": "CDN (Imperva)", "__cf_bm": "bot management (Cloudflare)",
	"_cfuvid": "rate limiting (Cloudflare)", "cf_clearance": "bot challenge (Cloudflare)",
	"has_js": "feature flag (Drupal)", "wordpress_test_cookie": "test cookie (WordPress)", "wp-settings-time-1": "preference (WordPress)",
	"testcookie": "test cookie", "cookies_enabled": "test cookie", "js_enabled": "test cookie",
	"nid": "preferences and ads (Google)", "aec": "anti-abuse (Google)", "1p_jar": "ads (Google)",
	"s_pers": "analytics (Adobe)", "s_sess": "analytics (Adobe)", "swid": "visitor ID (Disney/ESPN)",
	"uid": "visitor ID (tracking)", "_uid": "visitor ID (tracking)", "visitor_id": "visitor ID (tracking)",
	"visitorid": "visitor ID (tracking)", "bizoid": "advertising (Bizo)", "bizodata": "advertising (Bizo)", "bizousermatchhistory": "advertising (Bizo)",
}

// nonSessionPrefixes are name prefixes of known non-session cookies.
var nonSessionPrefixes = []struct{ prefix, owner string }{
	{"_ga_", "analytics (Google Analytics 4)"},
	{"_hjsession", "analytics (Hotjar)"},
	{"_hjsessionuser", "analytics (Hotjar)"},
	{"_pk_", "analytics (Matomo)"},
	{"__utm", "analytics (Urchin/GA)"},
	{"amp_", "analytics (Amplitude)"},
	{"mp_", "analytics (Mixpanel)"},
	{"ajs_", "analytics (Segment)"},
	{"_uet", "advertising (Microsoft Ads)"},
	{"bigipserver", "load-balancer affinity (F5 BIG-IP)"},
	{"nsc_", "load-balancer persistence (Citrix NetScaler)"},
	{"ts01", "bot defence (F5 Advanced WAF)"},
	{"comment_author_", "commenter details (WordPress)"},
	{"incap_ses_", "CDN (Imperva)"},
	{"visid_incap_", "CDN (Imperva)"},
	{"nlbi_", "CDN (Imperva)"},
	{"wp-settings-", "preference (WordPress)"},
	{"cookielawinfo", "consent"},
	{"osano_", "consent"},
}

// SessionClass is the classification of one cookie.
type SessionClass struct {
	Session    bool
	Confidence Confidence // how sure the classification is
	Reason     string     // why, for the finding's evidence; set for non-session cookies too
	Owner      string     // the framework or product the name belongs to, if known
}

// Classifier decides which cookies are session cookies. The zero value uses
// the built-in lists only.
type Classifier struct {
	All          bool             // --all-cookies: every cookie is a session cookie
	Names        []string         // policy: extra session cookie names (case-insensitive)
	Patterns     []*regexp.Regexp // policy: extra session cookie name patterns
	NotNames     []string         // policy: names that are never session cookies
	NotPatterns  []*regexp.Regexp // policy: patterns of names that are never session cookies
	NoValueShape bool             // skip tier 5 (value shape)
}

// Classify returns whether a cookie is a session cookie and why. value may
// be "" when unknown.
func (c Classifier) Classify(name, value string) SessionClass {
	cls := c.classify(name, value)
	if c.All && !cls.Session {
		cls.Session = true
		cls.Confidence = Certain
		if cls.Reason == "" {
			cls.Reason = "--all-cookies"
		} else {
			cls.Reason = "--all-cookies (otherwise: " + cls.Reason + ")"
		}
	}
	return cls
}

func (c Classifier) classify(name, value string) SessionClass {
	var buf [64]byte
	var base string
	if len(c.Names) > 0 || len(c.NotNames) > 0 {
		base = stripPrefix(lowerInto(buf[:], name)) // nothing returned holds it: reasons are copies or constants
	}
	for _, n := range c.Names {
		if strings.EqualFold(n, name) || strings.EqualFold(n, base) {
			return SessionClass{true, Certain, "policy session name " + n, ""}
		}
	}
	for _, p := range c.Patterns {
		if p.MatchString(name) {
			return SessionClass{true, Certain, "policy session pattern " + p.String(), ""}
		}
	}
	for _, n := range c.NotNames {
		if strings.EqualFold(n, name) || strings.EqualFold(n, base) {
			return SessionClass{false, Certain, "policy non-session name " + n, ""}
		}
	}
	for _, p := range c.NotPatterns {
		if p.MatchString(name) {
			return SessionClass{false, Certain, "policy non-session pattern " + p.String(), ""}
		}
	}
	if cls, ok := builtinClass(name); ok {
		return cls
	}
	if !c.NoValueShape {
		if bits, ok := randomLooking(value); ok {
			return SessionClass{true, Tentative, "value shape: " + itoa(len(value)) + " characters, about " + itoa(int(bits)) + " bits of entropy", ""}
		}
	}
	return SessionClass{false, Firm, "no session name, pattern or value shape", ""}
}

// builtin is the built-in tiers of classify (2 to 4: known names and
// prefixes, name patterns), which judge a name lower-cased and without
// its __Host-/__Secure- prefix; ok is false when none of them decides.
func builtin(name string) (SessionClass, bool) {
	var buf [64]byte
	base := stripPrefix(lowerInto(buf[:], name)) // nothing returned holds it: reasons are copies or constants
	if k, ok := sessionNameReasons[base]; ok && k.owner != "" {
		return SessionClass{true, Certain, k.reason, k.owner}, true
	}
	for i, p := range sessionPrefixes {
		if strings.HasPrefix(base, p.prefix) {
			return SessionClass{true, Certain, sessionPrefixReasons[i], p.owner}, true
		}
	}
	// Drupal: SESS<hex> (SSESS<hex> over HTTPS).
	h, ok := strings.CutPrefix(base, "ssess")
	if !ok {
		h, ok = strings.CutPrefix(base, "sess")
	}
	if ok && len(h) >= 32 && isHex(h) {
		return SessionClass{true, Certain, "name pattern SESS<hex> (Drupal)", "Drupal"}, true
	}
	// Rails: _<app>_session.
	if len(base) > len("__session") && base[0] == '_' && strings.HasSuffix(base, "_session") {
		return SessionClass{true, Certain, "name pattern _<app>_session (Rails)", "Rails"}, true
	}
	if k, ok := nonSessionNameReasons[base]; ok {
		return SessionClass{false, Certain, k.reason, ""}, true
	}
	for i, p := range nonSessionPrefixes {
		if strings.HasPrefix(base, p.prefix) {
			return SessionClass{false, Certain, nonSessionPrefixReasons[i], ""}, true
		}
	}
	for w, i := nextWord(base, 0); w != ""; w, i = nextWord(base, i) {
		if strings.Contains(w, "csrf") || strings.Contains(w, "xsrf") {
			return SessionClass{false, Firm, "name pattern: word " + w + " (CSRF token, not a session)", ""}, true
		}
	}
	if w := sessionWord(base); w != "" {
		return SessionClass{true, Firm, "name pattern: word " + w, ""}, true
	}
	return SessionClass{}, false
}

// classCache remembers builtin's answers for the names seen last: a
// capture sends the same few cookie names over and over, and the tiers
// (two map lookups, some 30 prefix tests, two walks over the words) were
// most of classify's cost (callgrind, 100 MB benchmark capture, 2
// workers: classify 5.0M -> 1.0M instructions, lowerInto -1.5M, map
// lookups -1.6M, for 1.2M in the cache's own lookups). Slots are
// chosen by a seeded hash of the name and hold an immutable entry each,
// replaced on a miss: bounded whatever the traffic (names of more than
// maxCachedName bytes are not kept), safe for the workers and the
// correlator to share, and a name that collides with another is just
// worked out again.
var classCache struct {
	seed  maphash.Seed
	slots [classCacheSlots]atomic.Pointer[classEntry]
}

const (
	classCacheSlots = 512 // a power of two
	maxCachedName   = 64
)

type classEntry struct {
	name string // a copy
	cls  SessionClass
	ok   bool
}

func init() { classCache.seed = maphash.MakeSeed() }

// builtinClass is builtin(name), from classCache when it holds name.
func builtinClass(name string) (SessionClass, bool) {
	if len(name) > maxCachedName {
		return builtin(name)
	}
	slot := &classCache.slots[maphash.String(classCache.seed, name)&(classCacheSlots-1)]
	if e := slot.Load(); e != nil && e.name == name {
		return e.cls, e.ok
	}
	cls, ok := builtin(name)
	slot.Store(&classEntry{strings.Clone(name), cls, ok})
	return cls, ok
}

// sessionWord returns the word of a cookie name that marks it as a session
// cookie by pattern, or "". Names are split into words at anything but
// letters and digits and at lower-to-upper case changes.
func sessionWord(lowerName string) string {
	for w, i := nextWord(lowerName, 0); w != ""; w, i = nextWord(lowerName, i) {
		switch {
		case strings.HasPrefix(w, "sess"), strings.HasSuffix(w, "session"), strings.HasSuffix(w, "sessid"),
			strings.HasSuffix(w, "sessionid"):
			return w
		}
		switch w {
		case "sid", "ssid", "auth", "authtoken", "authtkt", "token", "accesstoken", "jwt", "login", "loggedin",
			"logintoken", "rememberme", "remember", "sso", "ssotoken", "identity", "idtoken", "refreshtoken":
			return w
		}
	}
	return ""
}

// nextWord returns the first word of s at or after byte i, and the index
// after it; "" when there is none. Words are runs of a-z and 0-9: every
// other byte separates, as every other rune does (non-ASCII runes are
// all bytes >= 0x80), so the words are strings.FieldsFunc's without the
// slice it allocated for every cookie classified.
func nextWord(s string, i int) (string, int) {
	isWord := func(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
	for i < len(s) && !isWord(s[i]) {
		i++
	}
	j := i
	for j < len(s) && isWord(s[j]) {
		j++
	}
	return s[i:j], j
}

// knownName is a known name's owner and the reason classify gives for it.
type knownName struct{ owner, reason string }

// The reasons of the known names and prefixes, made once: classify
// returned a new concatenation for every cookie they classified.
var (
	sessionNameReasons      = knownNames(sessionNames, "known session cookie name (", ")")
	nonSessionNameReasons   = knownNames(nonSessionNames, "known non-session cookie: ", "")
	sessionPrefixReasons    = prefixReasons(sessionPrefixes, "session cookie name prefix %p (%o)")
	nonSessionPrefixReasons = prefixReasons(nonSessionPrefixes, "known non-session cookie prefix %p: %o")
)

func knownNames(m map[string]string, before, after string) map[string]knownName {
	out := make(map[string]knownName, len(m))
	for n, owner := range m {
		out[n] = knownName{owner, before + owner + after}
	}
	return out
}

// prefixReasons gives each prefix its reason: format with %p the prefix
// and %o its owner.
func prefixReasons(ps []struct{ prefix, owner string }, format string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = strings.NewReplacer("%p", p.prefix, "%o", p.owner).Replace(format)
	}
	return out
}

// randomLooking reports whether v looks like a random session identifier:
// at least 24 characters with an estimated entropy of 96 bits or more, and
// not a plain number, date or dotted analytics-style value.
func randomLooking(v string) (float64, bool) {
	v = strings.Trim(v, `"`)
	if len(v) < 24 || len(v) > 4096 {
		return 0, false
	}
	digits, dots := 0, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case '0' <= c && c <= '9':
			digits++
		case c == '.' || c == '|' || c == ',' || c == ' ' || c == '&' || c == '=' || c == ':':
			dots++
		}
	}
	if digits == len(v) || dots > 3 {
		return 0, false
	}
	bits := EntropyBits(v)
	return bits, bits >= 96
}

func stripPrefix(lower string) string {
	for _, p := range []string{"__host-http-", "__host-", "__secure-", "__http-"} {
		if b, ok := strings.CutPrefix(lower, p); ok {
			return b
		}
	}
	return lower
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
