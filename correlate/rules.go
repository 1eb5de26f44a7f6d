package correlate

import "github.com/cookiewatch/cookiewatch/rules"

// Decision says when a cross-connection rule can be decided.
type Decision uint8

const (
	// Immediate rules fire as soon as the correlation state holds both ends of
	// their chain, whichever arrived first: they compare capture times, not
	// arrival order.
	Immediate Decision = iota + 1
	// AtEnd rules have a negative condition ("never … within the capture"):
	// they are decided when their state leaves the window (evicted) or at the
	// end of input, whichever comes first.
	AtEnd
)

// Fact is what a cross-connection check sees: one cookie (by host, name and,
// where it matters, value) with what the correlation state knows about it.
// Checks read nothing else.
type Fact struct {
	Session  bool // classified as a session cookie
	Deletion bool // the plaintext Set-Cookie in question deletes the cookie

	HostTLS   bool // the host was seen over TLS (by SNI, or TLS without SNI to the same server address)
	Plaintext bool // the cookie crossed plaintext HTTP (Cookie or Set-Cookie)
	SentPlain bool // the value was sent in a plaintext request's Cookie header
	SetPlain  bool // the value was set in a plaintext response (within the retained state)

	OtherClient bool // the value was also sent from another client address within the window

	Redirect    bool // a plaintext 3xx response whose Location is https://
	SetsSession bool // that response sets a session cookie (not a deletion)

	SentBeforeLogin bool // the same client sent the value in a request at or before a login
	SentAfterLogin  bool // … and again after that login

	SecureEarlier    bool // the host set the name with Secure in a plaintext response
	InsecureSetLater bool // … and a later plaintext Set-Cookie for the name lacks Secure
}

// Rule is a cross-connection rule: the catalogue's metadata (ID, title, CWE,
// severity, confidence, explanation, fix; its Observation Check and string
// samples stay nil) with a pure check over a Fact and samples that the
// catalogue test runs.
type Rule struct {
	rules.Rule
	When     Decision
	Holds    func(Fact) bool
	FiresOn  []Fact
	SilentOn []Fact
}

// catalogue lists the cross-connection rules; its order is display order,
// after the per-message catalogue. IDs are stable.
var catalogue = []Rule{
	{
		Rule: rules.Rule{
			ID: "mixed-scheme-session", Title: "Session cookie of an HTTPS host also travels over plaintext HTTP",
			CWE: 319, Severity: rules.High, Confidence: rules.Firm,
			Explanation: "The host serves HTTPS, yet its session cookie crossed plain HTTP in the same capture. " +
				"TLS protects nothing if the session token also travels in clear: anyone on the path copies it " +
				"from the plaintext request or response and replays it.",
			Fix: "Redirect every plain HTTP URL of the host to HTTPS before any cookie is set or read, send " +
				"HSTS (includeSubDomains), and set session cookies with Secure.",
		},
		When:     Immediate,
		Holds:    func(f Fact) bool { return f.Session && f.Plaintext && f.HostTLS && !f.Deletion },
		FiresOn:  []Fact{{Session: true, Plaintext: true, HostTLS: true}},
		SilentOn: []Fact{{Session: true, Plaintext: true}, {Plaintext: true, HostTLS: true}, {Session: true, Plaintext: true, HostTLS: true, Deletion: true}},
	},
	{
		Rule: rules.Rule{
			ID: "cookie-set-over-tls-leaked", Title: "Session cookie set over HTTPS without Secure leaked over HTTP",
			CWE: 614, Severity: rules.High, Confidence: rules.Firm,
			Explanation: "A session value the capture never shows being set in plaintext was sent in a plaintext " +
				"request to a host that also serves HTTPS: it was set over HTTPS without Secure, and the browser " +
				"then sent it over plain HTTP (a typed URL, an http:// link, a request an attacker injected), " +
				"where anyone on the path reads it.",
			Fix: "Set the session cookie with Secure (better: the __Host- prefix) so browsers never send it over " +
				"plain HTTP; redirect HTTP to HTTPS and send HSTS.",
		},
		When:     AtEnd,
		Holds:    func(f Fact) bool { return f.Session && f.SentPlain && !f.SetPlain && f.HostTLS },
		FiresOn:  []Fact{{Session: true, SentPlain: true, Plaintext: true, HostTLS: true}},
		SilentOn: []Fact{{Session: true, SentPlain: true, SetPlain: true, HostTLS: true}, {Session: true, SentPlain: true}, {SentPlain: true, HostTLS: true}},
	},
	{
		Rule: rules.Rule{
			ID: "session-reuse", Title: "Same session value sent from two client addresses",
			CWE: 294, Severity: rules.High, Confidence: rules.Tentative,
			Explanation: "One session value came from two different client addresses within the correlation " +
				"window: the replay a sidejacking tool makes after copying a cookie off the wire. (Clients " +
				"behind changing NAT or mobile networks can do this too; check the addresses.)",
			Fix: "Invalidate the session; bind sessions to more than a bearer cookie where the risk warrants it, " +
				"and stop the exposure that let the value be copied (Secure, HTTPS only, HSTS).",
		},
		When:     Immediate,
		Holds:    func(f Fact) bool { return f.Session && f.SentPlain && f.OtherClient },
		FiresOn:  []Fact{{Session: true, SentPlain: true, OtherClient: true}},
		SilentOn: []Fact{{Session: true, SentPlain: true}, {SentPlain: true, OtherClient: true}},
	},
	{
		Rule: rules.Rule{
			ID: "redirect-sets-session", Title: "Plaintext redirect to HTTPS sets a session cookie",
			CWE: 319, Severity: rules.Medium, Confidence: rules.Certain,
			Explanation: "The plain HTTP response that sends the browser to HTTPS also sets a session cookie, so " +
				"the token crosses the network in clear before the secure connection starts, and a cookie set " +
				"without Secure here is sent over HTTP again later.",
			Fix: "Make the HTTP-to-HTTPS redirect set no cookies; create the session only over HTTPS.",
		},
		When:     Immediate,
		Holds:    func(f Fact) bool { return f.Redirect && f.SetsSession },
		FiresOn:  []Fact{{Redirect: true, SetsSession: true}},
		SilentOn: []Fact{{Redirect: true}, {SetsSession: true}},
	},
	{
		Rule: rules.Rule{
			ID: "session-not-rotated", Title: "Session value not rotated at login",
			CWE: 384, Severity: rules.Medium, Confidence: rules.Firm,
			Explanation: "The same client sent the same session value before and after logging in. An attacker " +
				"who planted or read the pre-login value (session fixation) is logged in along with the user.",
			Fix: "Issue a new session identifier at login (and at every privilege change) and invalidate the old one.",
		},
		When:     Immediate,
		Holds:    func(f Fact) bool { return f.Session && f.SentBeforeLogin && f.SentAfterLogin },
		FiresOn:  []Fact{{Session: true, SentPlain: true, SentBeforeLogin: true, SentAfterLogin: true}},
		SilentOn: []Fact{{Session: true, SentBeforeLogin: true}, {Session: true, SentAfterLogin: true}, {SentBeforeLogin: true, SentAfterLogin: true}},
	},
	{
		Rule: rules.Rule{
			ID: "secure-cookie-shadowed", Title: "Plaintext Set-Cookie shadows a Secure cookie",
			CWE: 565, Severity: rules.Medium, Confidence: rules.Firm,
			Explanation: "A plaintext response sets a cookie name that the same host set earlier with Secure. " +
				"Browsers refuse to let plain HTTP overwrite a Secure cookie (RFC 6265bis), so a server relying " +
				"on it is broken; an attacker on the path uses the same move to plant a cookie of their choosing.",
			Fix: "Set the cookie only over HTTPS, with Secure and the __Host- prefix, which plain HTTP cannot set or shadow.",
		},
		When:     Immediate,
		Holds:    func(f Fact) bool { return f.SecureEarlier && f.InsecureSetLater },
		FiresOn:  []Fact{{SecureEarlier: true, InsecureSetLater: true}, {SecureEarlier: true, InsecureSetLater: true, Deletion: true}},
		SilentOn: []Fact{{SecureEarlier: true}, {InsecureSetLater: true}},
	},
}

// Catalogue returns the cross-connection rules in display order (a copy).
func Catalogue() []Rule { return append([]Rule(nil), catalogue...) }

// byID returns the index of a rule in the catalogue; it panics on an unknown
// ID, which TestCatalogue would have caught.
func byID(id string) int {
	for i, r := range catalogue {
		if r.ID == id {
			return i
		}
	}
	panic("correlate: unknown rule " + id)
}
