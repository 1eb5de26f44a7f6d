package rules

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

// stub is what a Folder sees of f: the fields evaluate builds last are
// not set yet.
func stub(f Finding) Finding {
	f.Value, f.Attrs, f.Fingerprint, f.Session, f.Framework = nil, nil, "", Session{}, FrameworkInfo{}
	f.Fix, f.Line, f.Path, f.Status = "", "", "", 0
	return f
}

// foldOccurrences are occurrences whose evidence order takes every branch
// of evidenceBefore: two files, frames that repeat (on one connection and
// on several), messages and positions within a frame, hosts in several
// cases, and values that differ (so a wrong evidence shows).
func foldOccurrences(n int, seed uint64) []Finding {
	rng := rand.New(rand.NewPCG(seed, 1))
	conns := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:2000"), netip.MustParseAddrPort("10.0.0.3:3000")}
	server := netip.MustParseAddrPort("192.0.2.1:80")
	var out []Finding
	for i := range n {
		f := Finding{
			Rule:     []string{"cleartext-cookie", "missing-secure"}[rng.IntN(2)],
			Host:     []string{"a.example", "A.example", "b.example"}[rng.IntN(3)],
			Cookie:   []string{"sid", "SID", "token"}[rng.IntN(3)],
			File:     []string{"", "x.pcap"}[rng.IntN(2)],
			Frame:    uint64(1 + rng.IntN(12)),
			Client:   conns[rng.IntN(len(conns))],
			Server:   server,
			Message:  uint64(1 + rng.IntN(3)),
			Severity: []Severity{Info, Medium, High}[rng.IntN(3)],
			Count:    1,
			Path:     "/p" + strconv.Itoa(i),
			Status:   200,
			Line:     "line " + strconv.Itoa(i),
			Fix:      "fix",
			Session:  Session{Session: true, Confidence: "firm", Reason: "r"},
			Value:    &Value{Length: i, Fingerprint: "sha256:" + strconv.Itoa(rng.IntN(1000))},
			Attrs:    &Attributes{Path: "/" + strconv.Itoa(i)},
		}
		f.pos = int32(rng.IntN(3))
		f.Time = testNow.Add(time.Duration(rng.IntN(100)) * time.Second)
		f.LastTime = f.Time
		f.Fingerprint = Fingerprint(f.Rule, f.Host, f.Cookie)
		out = append(out, f)
	}
	return out
}

// TestFoldMatchesAdd: offering each occurrence to Fold first and Adding
// only those it declines gives the findings of Adding them all, in any
// order, and Fold does take most repeats.
func TestFoldMatchesAdd(t *testing.T) {
	for seed := range uint64(20) {
		occ := foldOccurrences(300, seed)
		rng := rand.New(rand.NewPCG(seed, 2))
		rng.Shuffle(len(occ), func(i, j int) { occ[i], occ[j] = occ[j], occ[i] })
		var all, folded Aggregator
		taken := 0
		for _, f := range occ {
			all.Add(f)
			s := stub(f)
			if folded.Fold(&s) {
				taken++
				continue
			}
			folded.Add(f)
		}
		want, got := all.Findings(), folded.Findings()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: folded findings differ from added ones:\n%+v\nwant\n%+v", seed, got, want)
		}
		if taken == 0 || taken >= len(occ)-len(want) {
			t.Errorf("seed %d: Fold took %d of %d occurrences (%d findings): want some, and not those it cannot judge",
				seed, taken, len(occ), len(want))
		}
	}
}

// TestFoldEach: with Each every occurrence is kept, so Fold takes none.
func TestFoldEach(t *testing.T) {
	a := Aggregator{Each: true}
	for _, f := range foldOccurrences(50, 1) {
		s := stub(f)
		if a.Fold(&s) {
			t.Fatal("Fold took an occurrence with Each")
		}
		a.Add(f)
	}
	if a.Len() != 50 {
		t.Errorf("Len %d, want 50", a.Len())
	}
}

// TestEvaluateFolded: on real messages, evaluating with a Folder that
// declines everything builds exactly the findings of AppendRequest and
// AppendResponse, a Folder sees only the cheap fields, and folding into
// an Aggregator with Fold gives the findings of Adding every occurrence.
func TestEvaluateFolded(t *testing.T) {
	type msg struct {
		req  *httpparse.Request
		resp *httpparse.Response
	}
	var msgs []msg
	for i := range 40 {
		r := respWith("PHPSESSID="+strconv.Itoa(i)+"9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f; path=/",
			"theme=dark; Max-Age=99999999", "Server: Apache/2.4 PHP/8.1")
		r.Frame = uint64(100 - i) // later messages are earlier evidence: the evidence moves
		r.Request.Path = "/login;jsessionid=ABC?x=" + strconv.Itoa(i)
		if i%3 == 0 {
			r.Request.Host = "SHOP.example"
		}
		msgs = append(msgs, msg{resp: r})
		req := &httpparse.Request{Method: "GET", Path: "/a?PHPSESSID=" + strconv.Itoa(i), Host: "shop.example"}
		req.Headers = []httpparse.Header{{Name: "Cookie", Value: "sessionid=v" + strconv.Itoa(i%5) + "; theme=dark"},
			{Name: "Authorization", Value: "Basic dXNlcjpwYXNz"}}
		req.Cookies = httpparse.ParseCookieHeader(req.Headers[0].Value)
		req.Client, req.Server = netip.MustParseAddrPort("10.0.0.9:4000"), netip.MustParseAddrPort("192.0.2.80:80")
		req.Frame, req.Time = uint64(200+i%7), testNow.Add(time.Duration(i)*time.Second)
		msgs = append(msgs, msg{req: req})
	}
	for _, opt := range []Options{{}, {ShowValues: true}, {Classifier: Classifier{All: true}}} {
		var all, folded Aggregator
		seen := 0
		for n, m := range msgs {
			check := func(f *Finding) bool {
				seen++
				if f.Value != nil || f.Attrs != nil || f.Fingerprint != "" || f.Fix != "" || f.Path != "" || f.Line != "" || f.Status != 0 {
					t.Fatalf("Folder got built fields: %+v", *f)
				}
				return false
			}
			var plain, checked []Finding
			if m.req != nil {
				plain = AppendRequest(nil, m.req, false, Hints{}, opt)
				checked = AppendRequestFolded(nil, m.req, false, Hints{}, opt, check)
			} else {
				plain = AppendResponse(nil, m.resp, false, opt)
				checked = AppendResponseFolded(nil, m.resp, false, opt, check)
			}
			if !reflect.DeepEqual(checked, plain) {
				t.Fatalf("message %d: with a Folder that declines, %+v, want %+v", n, checked, plain)
			}
			for _, f := range plain {
				f.Message, f.File = uint64(n+1), "c.pcap"
				all.Add(f)
			}
			fold := func(f *Finding) bool {
				f.Message, f.File = uint64(n+1), "c.pcap"
				return folded.Fold(f)
			}
			var kept []Finding
			if m.req != nil {
				kept = AppendRequestFolded(nil, m.req, false, Hints{}, opt, fold)
			} else {
				kept = AppendResponseFolded(nil, m.resp, false, opt, fold)
			}
			for _, f := range kept {
				folded.Add(f)
			}
		}
		if seen == 0 {
			t.Fatal("the Folder saw no occurrence")
		}
		want, got := all.Findings(), folded.Findings()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("opt %+v: folded findings %+v, want %+v", opt, got, want)
		}
	}
}

// TestHostOnly: the shortcut for hosts without a colon gives what
// net.SplitHostPort's path gives.
func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"Shop.Example": "shop.example", " shop.example:8080 ": "shop.example", "[::1]:443": "::1", "[::1]": "::1",
		"::1": "::1", "": "", "a:b:c": "a:b:c", "[x": "x", "host:": "host",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDuplicateSetCookie: a Set-Cookie line is a duplicate when another of
// its response sets the same name, domain and path, with few lines (a
// scan) as with many (a map).
func TestDuplicateSetCookie(t *testing.T) {
	for _, n := range []int{3, 16, 17, 40} {
		var lines []string
		for i := range n - 2 {
			lines = append(lines, "c"+strconv.Itoa(i)+"=v; Path=/")
		}
		lines = append(lines, "c0=w; Path=/", "c1=w; Path=/other") // c0 twice; c1 on another path
		obs := observeResponse(nil, respWith(lines...), false, Options{})
		for i, o := range obs {
			want := o.Name == "c0"
			if o.Duplicate != want {
				t.Errorf("%d lines: line %d (%s) Duplicate = %v, want %v", n, i, o.Name, o.Duplicate, want)
			}
		}
	}
}
