// Package demoapp is cookiewatch's classroom: a deliberately vulnerable
// Flask-style login app, a simulated victim who logs in to it and a
// simulated attacker who replays the victim's session cookie, all on
// loopback addresses. The generator (gen/) records one run of them with
// libpcap into demo.pcap, which is embedded here for `cookiewatch demo`;
// `cookiewatch demo --live` runs them while capturing.
//
// Nothing here is meant to be safe: the app sets its session cookie without
// Secure, HttpOnly or SameSite and serves plain HTTP, on purpose. It listens
// on loopback addresses only.
package demoapp

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"sync"
)

// Host is the name the app answers to and the clients ask for. It is a
// reserved name (RFC 2606): nothing outside the demo resolves it.
const Host = "bank.example"

// CookieName is the session cookie, Flask's default name.
const CookieName = "session"

// ServerHeader makes the app look like Flask's development server, so the
// report gives Flask's settings as the fix.
const ServerHeader = "Werkzeug/3.0.1 Python/3.12.3"

// App is the vulnerable login app: any user name with a non-empty password
// logs in. Its zero value is not usable; call NewApp.
type App struct {
	mu       sync.Mutex
	sessions map[string]string // cookie value → user
}

// NewApp returns an app with no sessions.
func NewApp() *App { return &App{sessions: map[string]string{}} }

// ServeHTTP implements http.Handler: GET / (login form), POST /login (sets
// the session cookie, redirects to /account), GET /account (the user's page;
// whoever presents the cookie is that user), GET /logout.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", ServerHeader)
	switch {
	case r.URL.Path == "/" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, loginPage)
	case r.URL.Path == "/login" && r.Method == http.MethodPost:
		user, pass := r.PostFormValue("username"), r.PostFormValue("password")
		if user == "" || pass == "" {
			http.Error(w, "user name and password required", http.StatusBadRequest)
			return
		}
		v := newSessionValue(user)
		a.mu.Lock()
		a.sessions[v] = user
		a.mu.Unlock()
		// The mistake on display: Flask with SESSION_COOKIE_HTTPONLY = False and
		// neither SESSION_COOKIE_SECURE nor SESSION_COOKIE_SAMESITE, served over HTTP.
		w.Header().Add("Set-Cookie", CookieName+"="+v+"; Path=/")
		http.Redirect(w, r, "/account", http.StatusFound)
	case r.URL.Path == "/account" && r.Method == http.MethodGet:
		user := a.user(r)
		if user == "" {
			http.Redirect(w, r, "/", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, accountPage, html.EscapeString(user))
	case r.URL.Path == "/logout":
		if c, err := r.Cookie(CookieName); err == nil {
			a.mu.Lock()
			delete(a.sessions, c.Value)
			a.mu.Unlock()
		}
		w.Header().Add("Set-Cookie", CookieName+"=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/")
		http.Redirect(w, r, "/", http.StatusFound)
	default:
		http.NotFound(w, r)
	}
}

// user returns the user whose session cookie the request presents, or "".
func (a *App) user(r *http.Request) string {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[c.Value]
}

// newSessionValue returns a value shaped like Flask's signed session cookie
// (base64 payload, timestamp, signature), random so every login differs.
func newSessionValue(user string) string {
	payload, _ := json.Marshal(map[string]string{"user": user})
	var ts [4]byte
	var sig [20]byte
	rand.Read(ts[:])
	rand.Read(sig[:])
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(ts[:]) + "." + enc.EncodeToString(sig[:])
}

const loginPage = `<!doctype html>
<title>Bank of Example</title>
<h1>Bank of Example</h1>
<form method="post" action="/login">
<label>User <input name="username"></label>
<label>Password <input name="password" type="password"></label>
<button>Log in</button>
</form>
`

const accountPage = `<!doctype html>
<title>Your account</title>
<h1>Welcome, %s</h1>
<p>Balance: 1,234.56 EUR</p>
<p><a href="/logout">Log out</a></p>
`
