package httpparse

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

func date(y int, m time.Month, d, hh, mm, ss int) time.Time {
	return time.Date(y, m, d, hh, mm, ss, 0, time.UTC)
}

func TestParseSetCookie(t *testing.T) {
	long := strings.Repeat("v", 4096)
	tests := []struct {
		name, line string
		want       SetCookie // Raw is filled in from line
		err        error
	}{
		{name: "plain pair", line: "SID=31d4d96e407aad42",
			want: SetCookie{Name: "SID", Value: "31d4d96e407aad42"}},
		{name: "flags are case-insensitive", line: "id=1; SECURE; httponly; PARTITIONED",
			want: SetCookie{Name: "id", Value: "1", Secure: true, HttpOnly: true, Partitioned: true}},
		{name: "flag values are ignored", line: "id=1; Secure=false; HttpOnly=no",
			want: SetCookie{Name: "id", Value: "1", Secure: true, HttpOnly: true}},
		{name: "whitespace trimmed around name value and attributes", line: " id \t=  1 ;  Path = /a ; \tSecure ",
			want: SetCookie{Name: "id", Value: "1", Path: "/a", Secure: true}},
		{name: "value keeps quotes and inner equals", line: `id="a=b"`,
			want: SetCookie{Name: "id", Value: `"a=b"`}},
		{name: "last path wins", line: "id=1; Path=/a; Path=/b",
			want: SetCookie{Name: "id", Value: "1", Path: "/b"}},
		{name: "later invalid path resets to default", line: "id=1; Path=/a; Path=b",
			want: SetCookie{Name: "id", Value: "1"}},
		{name: "empty path is default", line: "id=1; Path=",
			want: SetCookie{Name: "id", Value: "1"}},
		{name: "last samesite wins", line: "id=1; SameSite=Strict; samesite=lax",
			want: SetCookie{Name: "id", Value: "1", SameSite: SameSiteLax, SameSiteRaw: "lax"}},
		{name: "samesite none upper", line: "id=1; SAMESITE=NONE",
			want: SetCookie{Name: "id", Value: "1", SameSite: SameSiteNone, SameSiteRaw: "NONE"}},
		{name: "samesite strict", line: "id=1; SameSite=Strict",
			want: SetCookie{Name: "id", Value: "1", SameSite: SameSiteStrict, SameSiteRaw: "Strict"}},
		{name: "samesite bare is invalid", line: "id=1; SameSite",
			want: SetCookie{Name: "id", Value: "1", SameSite: SameSiteInvalid}},
		{name: "samesite empty is invalid", line: "id=1; SameSite=",
			want: SetCookie{Name: "id", Value: "1", SameSite: SameSiteInvalid}},
		{name: "samesite unknown is invalid and kept", line: "id=1; SameSite=Laxx",
			want: SetCookie{Name: "id", Value: "1", SameSite: SameSiteInvalid, SameSiteRaw: "Laxx"}},
		{name: "domain leading dot removed and lowered", line: "id=1; Domain=.Example.COM",
			want: SetCookie{Name: "id", Value: "1", Domain: "example.com", HasDomain: true}},
		{name: "domain without dot", line: "id=1; domain=example.com",
			want: SetCookie{Name: "id", Value: "1", Domain: "example.com", HasDomain: true}},
		{name: "empty domain ignored", line: "id=1; Domain=",
			want: SetCookie{Name: "id", Value: "1"}},
		{name: "empty domain does not override earlier", line: "id=1; Domain=a.example; Domain=",
			want: SetCookie{Name: "id", Value: "1", Domain: "a.example", HasDomain: true}},
		{name: "max-age", line: "id=1; Max-Age=3600",
			want: SetCookie{Name: "id", Value: "1", MaxAge: 3600, HasMaxAge: true}},
		{name: "max-age negative", line: "id=1; max-age=-1",
			want: SetCookie{Name: "id", Value: "1", MaxAge: -1, HasMaxAge: true}},
		{name: "max-age leading zero accepted", line: "id=1; Max-Age=007",
			want: SetCookie{Name: "id", Value: "1", MaxAge: 7, HasMaxAge: true}},
		{name: "max-age plus sign ignored", line: "id=1; Max-Age=+5",
			want: SetCookie{Name: "id", Value: "1"}},
		{name: "max-age bare minus ignored", line: "id=1; Max-Age=-",
			want: SetCookie{Name: "id", Value: "1"}},
		{name: "max-age with letters ignored", line: "id=1; Max-Age=12s",
			want: SetCookie{Name: "id", Value: "1"}},
		{name: "invalid max-age keeps earlier", line: "id=1; Max-Age=5; Max-Age=x",
			want: SetCookie{Name: "id", Value: "1", MaxAge: 5, HasMaxAge: true}},
		{name: "expires rfc1123", line: "id=1; Expires=Wed, 09 Jun 2021 10:18:14 GMT",
			want: SetCookie{Name: "id", Value: "1", Expires: date(2021, 6, 9, 10, 18, 14), HasExpires: true}},
		{name: "expires invalid ignored", line: "id=1; Expires=tomorrow",
			want: SetCookie{Name: "id", Value: "1"}},
		{name: "max-age and expires both kept", line: "id=1; Expires=Wed, 09 Jun 2021 10:18:14 GMT; Max-Age=0",
			want: SetCookie{Name: "id", Value: "1", Expires: date(2021, 6, 9, 10, 18, 14), HasExpires: true, HasMaxAge: true}},
		{name: "unknown attributes kept", line: "id=1; Priority=High; Comment=x y; Foo",
			want: SetCookie{Name: "id", Value: "1", Unknown: []string{"Priority=High", "Comment=x y", "Foo"}}},
		{name: "empty attributes skipped", line: "id=1;;  ; Secure;",
			want: SetCookie{Name: "id", Value: "1", Secure: true}},
		{name: "attribute value over 1024 ignored", line: "id=1; Path=/" + strings.Repeat("p", 1024),
			want: SetCookie{Name: "id", Value: "1", Unknown: []string{" Path=/" + strings.Repeat("p", 1024)}}},
		{name: "nameless cookie", line: "abc; Secure",
			want: SetCookie{Value: "abc", Secure: true}},
		{name: "empty name with equals", line: "=abc",
			want: SetCookie{Value: "abc"}},
		{name: "empty value", line: "SID=",
			want: SetCookie{Name: "SID"}},
		{name: "empty line", line: "", err: ErrEmptyCookie},
		{name: "only equals", line: " = ; Secure", err: ErrEmptyCookie,
			want: SetCookie{Secure: true}},
		{name: "control char in value", line: "id=a\x01b", err: ErrCookieControl,
			want: SetCookie{Name: "id", Value: "a\x01b"}},
		{name: "control char in attribute", line: "id=1; Path=/\x7f", err: ErrCookieControl,
			want: SetCookie{Name: "id", Value: "1", Path: "/\x7f"}},
		{name: "tab inside value allowed", line: "id=a\tb",
			want: SetCookie{Name: "id", Value: "a\tb"}},
		{name: "name plus value at 4096 accepted", line: "i=" + long[:4095],
			want: SetCookie{Name: "i", Value: long[:4095]}},
		{name: "name plus value over 4096", line: "id=" + long, err: ErrCookieTooLarge,
			want: SetCookie{Name: "id", Value: long}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseSetCookie(tt.line)
			if tt.err == nil && got.Err != nil || tt.err != nil && !errors.Is(got.Err, tt.err) {
				t.Fatalf("ParseSetCookie(%q).Err = %v, want %v", clip(tt.line, 60), got.Err, tt.err)
			}
			if tt.err != nil && !errors.Is(got.Err, ErrMalformedCookie) {
				t.Errorf("Err %v does not wrap ErrMalformedCookie", got.Err)
			}
			got.Err = nil
			tt.want.Raw = tt.line
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseSetCookie(%q) =\n %+v\nwant\n %+v", clip(tt.line, 60), got, tt.want)
			}
		})
	}
}

func TestSetCookieErrorDoesNotEchoValue(t *testing.T) {
	c := ParseSetCookie("id=SECRETVALUE" + strings.Repeat("x", 5000))
	if c.Err == nil || strings.Contains(c.Err.Error(), "SECRET") {
		t.Errorf("Err = %v, want an error without the value", c.Err)
	}
}

func TestCookieDate(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Time // zero: must not parse
	}{
		{name: "rfc1123", in: "Sun, 06 Nov 1994 08:49:37 GMT", want: date(1994, 11, 6, 8, 49, 37)},
		{name: "rfc850 two-digit year", in: "Sunday, 06-Nov-94 08:49:37 GMT", want: date(1994, 11, 6, 8, 49, 37)},
		{name: "asctime", in: "Sun Nov  6 08:49:37 1994", want: date(1994, 11, 6, 8, 49, 37)},
		{name: "netscape dashes four-digit year", in: "Wed, 09-Jun-2021 10:18:14 GMT", want: date(2021, 6, 9, 10, 18, 14)},
		{name: "year 70 is 1970", in: "1 Jan 70 00:00:00", want: date(1970, 1, 1, 0, 0, 0)},
		{name: "year 69 is 2069", in: "1 Jan 69 00:00:00", want: date(2069, 1, 1, 0, 0, 0)},
		{name: "year 00 is 2000", in: "1 Jan 00 00:00:00", want: date(2000, 1, 1, 0, 0, 0)},
		{name: "single digit time fields", in: "Jan 1 2020 1:2:3", want: date(2020, 1, 1, 1, 2, 3)},
		{name: "tokens in any order", in: "2020 10:00:00 Mar 15", want: date(2020, 3, 15, 10, 0, 0)},
		{name: "full month name and trailing garbage", in: "15 March 2020 10:00:00xyz", want: date(2020, 3, 15, 10, 0, 0)},
		{name: "month case-insensitive", in: "15 mAR 2020 10:00:00", want: date(2020, 3, 15, 10, 0, 0)},
		{name: "day with suffix", in: "1st Jan 2020 00:00:00", want: date(2020, 1, 1, 0, 0, 0)},
		{name: "odd delimiters", in: "Thu,+01+Jan+2015+00:00:00+GMT", want: date(2015, 1, 1, 0, 0, 0)},
		{name: "second two-digit token is the year", in: "01 02 Jan 2015 00:00:00", want: date(2002, 1, 1, 0, 0, 0)},
		{name: "year 1601 minimum", in: "1 Jan 1601 00:00:00", want: date(1601, 1, 1, 0, 0, 0)},
		{name: "year 1600 too early", in: "1 Jan 1600 00:00:00"},
		{name: "three digit year too early", in: "1 Jan 100 00:00:00"},
		{name: "five digit year not a year", in: "1 Jan 20200 00:00:00"},
		{name: "hour 24 invalid", in: "1 Jan 2020 24:00:00"},
		{name: "minute 60 invalid", in: "1 Jan 2020 00:60:00"},
		{name: "leap second invalid", in: "1 Jan 2020 00:00:60"},
		{name: "day 32 invalid", in: "32 Jan 2020 00:00:00"},
		{name: "day 0 invalid", in: "0 Jan 2020 00:00:00"},
		{name: "february 30 does not exist", in: "30 Feb 2020 00:00:00"},
		{name: "february 29 leap year", in: "29 Feb 2020 00:00:00", want: date(2020, 2, 29, 0, 0, 0)},
		{name: "three digit hour is not a time", in: "1 Jan 2020 100:00:00"},
		{name: "missing time", in: "1 Jan 2020"},
		{name: "missing month", in: "1 2020 00:00:00"},
		{name: "empty", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseCookieDate(tt.in)
			if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
				t.Errorf("parseCookieDate(%q) = %v, %v; want %v", tt.in, got, ok, tt.want)
			}
		})
	}
}

func TestSetCookieDeletes(t *testing.T) {
	now := date(2024, 5, 1, 12, 0, 0)
	tests := []struct {
		name, line string
		want       bool
	}{
		{name: "session cookie", line: "id=1"},
		{name: "max-age zero", line: "id=1; Max-Age=0", want: true},
		{name: "max-age negative", line: "id=1; Max-Age=-5", want: true},
		{name: "max-age positive beats past expires", line: "id=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60"},
		{name: "max-age zero beats future expires", line: "id=1; Max-Age=0; Expires=Fri, 01 Jan 2100 00:00:00 GMT", want: true},
		{name: "past expires", line: "id=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT", want: true},
		{name: "future expires", line: "id=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT"},
		{name: "invalid expires", line: "id=1; Expires=yesterday"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseSetCookie(tt.line).Deletes(now); got != tt.want {
				t.Errorf("Deletes(%q) = %v, want %v", tt.line, got, tt.want)
			}
		})
	}
}

func TestParseCookieHeader(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Cookie
	}{
		{name: "empty", in: ""},
		{name: "single", in: "SID=1", want: []Cookie{{Name: "SID", Value: "1"}}},
		{name: "several with spaces", in: "a=1; b=2;c=3", want: []Cookie{{Name: "a", Value: "1"}, {Name: "b", Value: "2"}, {Name: "c", Value: "3"}}},
		{name: "repeated names kept", in: "a=1; a=2", want: []Cookie{{Name: "a", Value: "1"}, {Name: "a", Value: "2"}}},
		{name: "quotes kept", in: `a="x y"`, want: []Cookie{{Name: "a", Value: `"x y"`}}},
		{name: "nameless", in: "token; a=1", want: []Cookie{{Value: "token"}, {Name: "a", Value: "1"}}},
		{name: "empty tokens skipped", in: " ; a=1;;  ;", want: []Cookie{{Name: "a", Value: "1"}}},
		{name: "empty value", in: "a=", want: []Cookie{{Name: "a"}}},
		{name: "lone equals kept (fuzz regression)", in: "=", want: []Cookie{{}}},
		{name: "equals in value", in: "a=b=c", want: []Cookie{{Name: "a", Value: "b=c"}}},
		{name: "invalid bytes kept", in: "a b=c,d", want: []Cookie{{Name: "a b", Value: "c,d"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseCookieHeader(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseCookieHeader(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// TestEqualFoldFirst: equalFoldFirst is strings.EqualFold for the attribute
// names, on names with every first byte, in any case, with Unicode
// runes that fold to ASCII letters (ſ, K), cut, extended and random.
func TestEqualFoldFirst(t *testing.T) {
	targets := []string{"Expires", "Max-Age", "Domain", "Path", "Secure", "HttpOnly", "Partitioned", "SameSite", "Strict", "Lax", "None"}
	var names []string
	for _, tg := range targets {
		names = append(names, tg, strings.ToUpper(tg), strings.ToLower(tg), tg[:len(tg)-1], tg+"x", "\u017f"+tg[1:], "\u212a"+tg[1:],
			strings.ReplaceAll(strings.ToLower(tg), "s", "\u017f"), " "+tg)
		for c := range 256 {
			names = append(names, string(rune(c))+tg[1:], string([]byte{byte(c)})+tg[1:])
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = "seSExXpPaAhHmM-\u017f\xc5"[rng.IntN(17)]
		}
		names = append(names, string(b))
	}
	for _, tg := range targets {
		for _, n := range names {
			if got, want := equalFoldFirst(n, tg), strings.EqualFold(n, tg); got != want {
				t.Fatalf("equalFoldFirst(%q, %q) = %v, EqualFold %v", n, tg, got, want)
			}
		}
	}
}
