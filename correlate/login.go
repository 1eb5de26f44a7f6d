package correlate

import "strings"

// loginPathParts mark a POST as a login when the request path (before the
// query, lower-cased) contains one of them.
var loginPathParts = []string{
	"login", "log-in", "log_in", "logon", "signin", "sign-in", "sign_in",
	"authenticate", "/auth", "/session", // Rails-style POST /session(s), /users/auth
	"j_security_check", // Java servlet form login
}

// authCookieParts mark a Set-Cookie as an authentication cookie (a response
// that sets one is a login) when the lower-cased name contains one of them.
var authCookieParts = []string{
	"auth", "logged_in", "loggedin", "remember", "jwt", "access_token", "id_token",
}

// isLoginPath reports whether a POST to path looks like a login.
func isLoginPath(path string) bool {
	p, _, _ := strings.Cut(strings.ToLower(path), "?")
	for _, part := range loginPathParts {
		if strings.Contains(p, part) {
			return !strings.Contains(p, "logout") && !strings.Contains(p, "signout")
		}
	}
	return false
}

// isAuthCookie reports whether a cookie name looks like an authentication cookie.
func isAuthCookie(name string) bool {
	n := strings.ToLower(name)
	for _, part := range authCookieParts {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}
