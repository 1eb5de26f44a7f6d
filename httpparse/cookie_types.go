package httpparse

import "time"

// SameSite is a Set-Cookie SameSite attribute as parsed. The zero value means
// the attribute was absent.
type SameSite uint8

const (
	SameSiteAbsent  SameSite = iota // no attribute: the "missing SameSite" finding
	SameSiteInvalid                 // present, empty or unknown value: a different finding
	SameSiteLax
	SameSiteStrict
	SameSiteNone
)

// SetCookie is one Set-Cookie header line parsed with the user-agent algorithm
// of RFC 6265bis (section 5.6). Zero values mean "absent".
type SetCookie struct {
	Raw         string // the header value exactly as seen
	Name, Value string
	Err         error // non-nil when a browser would ignore the line (e.g. no '=' and empty value); fields hold what could be parsed

	Domain      string // without a leading dot, lower-cased; "" when absent
	HasDomain   bool
	Path        string // "" when absent
	Expires     time.Time
	HasExpires  bool // an Expires attribute that parsed as a cookie-date
	MaxAge      int  // seconds; meaningful only if HasMaxAge
	HasMaxAge   bool // a valid Max-Age attribute (Max-Age wins over Expires)
	Secure      bool
	HttpOnly    bool
	Partitioned bool
	SameSite    SameSite
	SameSiteRaw string   // the attribute's value as sent ("" when absent)
	Unknown     []string // attributes not understood, as sent ("Priority=High", "Comment=x")
}

// Cookie is one name/value pair of a Cookie request header.
type Cookie struct {
	Name, Value string
	Line        int // index in Request.Headers of the Cookie line that carried it
}
