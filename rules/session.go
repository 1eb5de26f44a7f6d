package rules

import (
	"strings"
)

// sessionNames are cookie names that well-known frameworks and products use
// for their session identifier, matched case-insensitively after stripping a
// __Host- or __Secure- prefix. Each entry names its owner; docs/sessions.md
// is the user-facing copy of this list.
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
	"_shibsession":                     "Shibboleth",
	"wordpress_logged_in":              "WordPress",
	"dvwasession":                      "DVWA",
}

// sessionPrefixes are name prefixes that mark session cookies whatever follows.
var sessionPrefixes = []struct{ prefix, owner string }{
	{"aspsessionid", "Classic ASP"},         // ASPSESSIONIDQQGGGNCG
	{"wordpress_logged_in_", "WordPress"},   // wordpress_logged_in_<hash>
	{"wordpress_sec_", "WordPress"},         // wordpress_sec_<hash>
	{"_shibsession_", "Shibboleth"},         // _shibsession_<hash>
	{"mod_auth_openidc_session", "OpenIDC"}, // chunked variants
}

// SessionClass is the classification of one cookie name.
type SessionClass struct {
	Session bool
	Reason  string // why, for the finding's evidence
}

// Classifier decides which cookie names are session cookies.
type Classifier struct {
	All bool // --all-cookies: every cookie is a session cookie
}

// Classify returns whether name is a session cookie and why.
func (c Classifier) Classify(name string) SessionClass {
	base := strings.ToLower(name)
	for _, p := range []string{"__host-", "__secure-"} {
		base = strings.TrimPrefix(base, p)
	}
	if owner, ok := sessionNames[base]; ok {
		return SessionClass{true, "known session cookie name (" + owner + ")"}
	}
	for _, p := range sessionPrefixes {
		if strings.HasPrefix(base, p.prefix) {
			return SessionClass{true, "session cookie name prefix " + p.prefix + " (" + p.owner + ")"}
		}
	}
	// Drupal: SESS<hex> (SSESS<hex> over HTTPS).
	h, ok := strings.CutPrefix(base, "ssess")
	if !ok {
		h, ok = strings.CutPrefix(base, "sess")
	}
	if ok && len(h) >= 32 && isHex(h) {
		return SessionClass{true, "name pattern SESS<hex> (Drupal)"}
	}
	// Rails: _<app>_session.
	if len(base) > len("__session") && base[0] == '_' && strings.HasSuffix(base, "_session") {
		return SessionClass{true, "name pattern _<app>_session (Rails)"}
	}
	if c.All {
		return SessionClass{true, "--all-cookies"}
	}
	return SessionClass{false, ""}
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
