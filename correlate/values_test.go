package correlate

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/rules"
)

// TestRequestRecordRoundTrip encodes requests with every kind of field value
// into a value's evidence and checks that each decodes to what Request puts
// in an exposure and reqLink in a link: addresses (IPv4, IPv6, IPv4-mapped,
// invalid, port 0 and 65535), times (before 1970, nanoseconds, far future),
// frames up to 2^64-1, several files, empty and long methods and paths, and
// the value's rules.Value and class.
func TestRequestRecordRoundTrip(t *testing.T) {
	c, err := New(Config{Key: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	addrs := []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.1:40000"),
		netip.MustParseAddrPort("[2001:db8::1]:443"),
		netip.MustParseAddrPort("[::ffff:192.0.2.7]:80"),
		netip.MustParseAddrPort("0.0.0.0:0"),
		netip.MustParseAddrPort("[::]:65535"),
		{},
	}
	times := []time.Time{
		time.Date(2024, 3, 1, 12, 0, 0, 123456789, time.UTC),
		time.Unix(0, 0).UTC(),
		time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(2500, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}
	frames := []uint64{1, 127, 128, 1 << 40, ^uint64(0)}
	methods := []string{"GET", "", "PROPFIND", strings.Repeat("M", 300)}
	paths := []string{"/", "", "/a?b=c&token=secret", "/" + strings.Repeat("p", 5000), "/caf\xc3\xa9/\x00"}
	files := []string{"", "a.pcap", "b/c.pcapng"}
	val := "value-0123456789abcdef"
	vi := c.valueState("shop.example", "sessionid", val, times[0])
	v := c.val(vi)
	if got, want := *v.fp.value(), *rules.NewValue(val, false); got != want {
		t.Fatalf("value: %+v, want %+v", got, want)
	}
	n := 0
	for i := range 200 {
		req := &httpparse.Request{
			Message: httpparse.Message{Client: addrs[i%len(addrs)], Server: addrs[(i/2+1)%len(addrs)],
				Frame: frames[i%len(frames)], Time: times[i%len(times)]},
			Method: methods[i%len(methods)], Path: paths[i%len(paths)],
		}
		file := files[i%len(files)]
		c.store(vi, c.encodeReq(file, req), true, -1, false, false)
		got := c.exposureAt(v, v.sent)
		want := exposure{link: reqLink(file, req), val: v.fp, direction: "request",
			client: req.Client, server: req.Server, method: req.Method, path: req.Path,
			cls: c.requestClass(httpparse.Cookie{Name: "sessionid"})}
		if !got.link.Time.Equal(want.link.Time) || got.link.Time.Location() != time.UTC {
			t.Errorf("request %d: time %v, want %v", i, got.link.Time, want.link.Time)
		}
		got.link.Time, want.link.Time = time.Time{}, time.Time{}
		if got != want {
			t.Errorf("request %d:\ngot  %+v\nwant %+v", i, got, want)
		}
		if h := c.head(v, v.sent); h.File != file || h.Frame != req.Frame || !h.Time.Equal(req.Time) {
			t.Errorf("request %d: head %+v", i, h)
		}
		if s := c.server(v, v.sent); s != req.Server.Addr().Unmap() {
			t.Errorf("request %d: server %v, want %v", i, s, req.Server.Addr().Unmap())
		}
		n++
	}
	if n != 200 {
		t.Fatalf("%d requests checked", n)
	}
}

// TestAddrRoundTrip checks the zone-free address form on every kind of
// address a packet can carry.
func TestAddrRoundTrip(t *testing.T) {
	for _, s := range []string{"10.0.0.1", "0.0.0.0", "255.255.255.255", "::", "::1", "2001:db8::7", "::ffff:10.0.0.4", "fe80::1"} {
		a := netip.MustParseAddr(s)
		if got := packAddr(a).unpack(); got != a {
			t.Errorf("%s: %v", s, got)
		}
	}
	if got := packAddr(netip.Addr{}).unpack(); got.IsValid() {
		t.Errorf("invalid address: %v", got)
	}
	if packAddr(netip.MustParseAddr("10.0.0.4")) == packAddr(netip.MustParseAddr("::ffff:10.0.0.4")) {
		t.Errorf("an IPv4 address and its IPv4-mapped form pack the same")
	}
}

// TestEvidenceBounded sends one value from three clients many times, in and
// out of capture order, and checks that the value's evidence holds exactly
// the records its references point to, each once: it does not grow with the
// number of requests, and every reference decodes to the request it should
// (the first, each client's first and latest by capture order).
func TestEvidenceBounded(t *testing.T) {
	c, err := New(Config{Key: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := netip.MustParseAddrPort("192.0.2.80:80")
	type span struct{ first, last uint64 }
	want := map[netip.Addr]*span{}
	firstFrame := ^uint64(0)
	maxLen := 0
	for i := range 3000 {
		frame := uint64(1 + (i*7919)%3000) // every frame once, out of order
		cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(frame % 3)}), 40000)
		c.Request("e.pcap", &httpparse.Request{
			Message: httpparse.Message{Client: cli, Server: srv, Frame: frame, Time: t0.Add(time.Duration(frame) * time.Millisecond)},
			Method:  "GET", Host: "shop.example", Path: fmt.Sprintf("/page/%d", frame),
			Cookies: []httpparse.Cookie{{Name: "sessionid", Value: "the-one-value-0123456789"}},
		})
		c.Take()
		s := want[cli.Addr()]
		if s == nil {
			s = &span{frame, frame}
			want[cli.Addr()] = s
		}
		s.first, s.last = min(s.first, frame), max(s.last, frame)
		firstFrame = min(firstFrame, frame)
		vi, ok := c.lookup(c.valueKey("shop.example", "sessionid", "the-one-value-0123456789"))
		if !ok {
			t.Fatal("value not tracked")
		}
		v := c.val(vi)
		maxLen = max(maxLen, len(v.ev))
		// The records in ev are exactly the distinct references.
		refs := map[ref]bool{v.sent: true}
		for j := range int(v.nclients) {
			cu := c.client(vi, j)
			refs[cu.first], refs[cu.last] = true, true
		}
		size := 0
		for r := range refs {
			size += len(record(v.ev, r))
		}
		if size != len(v.ev) {
			t.Fatalf("request %d: evidence holds %d bytes, its %d records %d", i, len(v.ev), len(refs), size)
		}
		if f := c.head(v, v.sent).Frame; f != firstFrame {
			t.Fatalf("request %d: sent is frame %d, want %d", i, f, firstFrame)
		}
		for j := range int(v.nclients) {
			cu := c.client(vi, j)
			s := want[cu.addr.unpack()]
			if e := c.exposureAt(v, cu.first); e.link.Frame != s.first || e.path != fmt.Sprintf("/page/%d", s.first) || e.client.Addr() != cu.addr.unpack() {
				t.Fatalf("request %d: client %v first %+v, want frame %d", i, cu.addr.unpack(), e.link, s.first)
			}
			if l := c.head(v, cu.last); l.Frame != s.last {
				t.Fatalf("request %d: client %v last frame %d, want %d", i, cu.addr.unpack(), l.Frame, s.last)
			}
		}
	}
	// sent, and first and last of three clients: at most 7 records of about
	// 40 bytes.
	if maxLen > 7*48 {
		t.Errorf("evidence grew to %d bytes", maxLen)
	}
}

// TestValueSlotSize holds the value slot to 128 bytes (a field added to it
// costs every tracked value; rare state belongs in a map by slot, like
// moreClients and tlsSets), and a chunk to the 32 KiB size class.
func TestValueSlotSize(t *testing.T) {
	if n := unsafe.Sizeof(value{}); n > 128 {
		t.Errorf("value slot is %d bytes, want at most 128", n)
	}
	if n := uintptr(valueChunk) * unsafe.Sizeof(value{}); n > 32<<10 || n < 30<<10 {
		t.Errorf("value chunk is %d bytes, want just under 32 KiB", n)
	}
}

// TestSteadyStateLive feeds a stream like the live soak's (docs/performance.md):
// 50 requests a second of capture time from 400 clients to 500 hosts, one in
// five with a session value never seen before (every login sets a new one),
// logins and Set-Cookies, for two hours of capture time with a 20-minute
// window. Once the window is full, values expire as fast as they come: the
// number of values, slot chunks, index table, shared strings and client index
// entries, and the live heap, must stop growing.
func TestSteadyStateLive(t *testing.T) {
	if testing.Short() {
		t.Skip("feeds 360,000 messages")
	}
	c, err := New(Config{Key: []byte("k"), Window: 20 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := netip.MustParseAddrPort("192.0.2.80:80")
	type shape struct {
		values, chunks, index, strs, byClient int
		heap                                  uint64
	}
	measure := func() shape {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return shape{c.nvalues, len(c.vchunks), len(c.vindex), len(c.strs), len(c.byClient), ms.HeapAlloc}
	}
	var at [3]shape
	const n = 360000 // 2 hours at 50 a second
	for i := range n {
		tm := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 3, byte(i % 400 >> 8), byte(i % 400)}), uint16(40000+i%50))
		host := fmt.Sprintf("h%03d.example", i%500)
		val := fmt.Sprintf("sess-%d-0123456789abcdef", i/5) // a new value every fifth request
		req := &httpparse.Request{
			Message: httpparse.Message{Client: cli, Server: srv, Frame: uint64(i + 1), Time: tm},
			Method:  "GET", Host: host, Path: fmt.Sprintf("/p/%d", i%1000),
			Cookies: []httpparse.Cookie{{Name: "sessionid", Value: val}, {Name: "theme", Value: "dark"}},
		}
		if i%100 == 0 {
			req.Method, req.Path = "POST", "/login"
		}
		c.Request("live", req)
		if i%10 == 0 {
			c.Response("live", &httpparse.Response{
				Message: httpparse.Message{Client: cli, Server: srv, Frame: uint64(i + 1), Time: tm}, Status: 200, Request: req,
				SetCookies: []httpparse.SetCookie{{Name: "sessionid", Value: val + "-next", HttpOnly: true}},
			})
		}
		c.Drain(func(rules.Finding) {})
		switch i + 1 {
		case n / 3, 2 * n / 3, n: // 40, 80, 120 minutes: the window is full at each
			at[(i+1)/(n/3)-1] = measure()
		}
	}
	if at[0].values < 10000 {
		t.Fatalf("only %d values tracked at 40 minutes: the test should fill the window", at[0].values)
	}
	for i := 1; i < len(at); i++ {
		a, b := at[0], at[i]
		if b.values > a.values+a.values/50 || b.chunks > a.chunks+1 || b.index > a.index || b.strs > a.strs || b.byClient > a.byClient+a.byClient/50 {
			t.Errorf("state grew after the window was full: %+v, then %+v", a, b)
		}
		if b.heap > a.heap+a.heap/10+256<<10 {
			t.Errorf("live heap grew from %d to %d bytes after the window was full (%+v, then %+v)", a.heap, b.heap, a, b)
		}
	}
	t.Logf("at 40, 80, 120 minutes: %+v", at)
}

// TestSentFromClientOverLimit: a request from a ninth client (over
// maxClients) that is earlier in capture time than every other still becomes
// the value's first plaintext send, the evidence of its leak.
func TestSentFromClientOverLimit(t *testing.T) {
	c, err := New(Config{Key: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := netip.MustParseAddrPort("192.0.2.80:80")
	c.TLSHello("f.pcap", &httpparse.TLSInfo{Client: netip.MustParseAddrPort("10.0.0.1:1"), Server: netip.MustParseAddrPort("192.0.2.80:443"),
		ClientHello: true, SNI: "shop.example", HelloFrame: 1, HelloTime: t0, Latest: 1})
	send := func(client byte, frame uint64, at time.Duration) {
		c.Request("f.pcap", &httpparse.Request{
			Message: httpparse.Message{Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, client}), 40000), Server: srv, Frame: frame, Time: t0.Add(at)},
			Method:  "GET", Host: "shop.example", Path: fmt.Sprintf("/from/%d", client),
			Cookies: []httpparse.Cookie{{Name: "sessionid", Value: "shared-value-0123456789"}},
		})
	}
	for i := range maxClients {
		send(byte(i), uint64(100+i), time.Minute+time.Duration(i)*time.Second)
	}
	send(99, 50, 30*time.Second) // the ninth client, earliest of all
	if n := c.Stats().Evictions["client-limit"]; n != 1 {
		t.Fatalf("client-limit %d, want 1", n)
	}
	var leak *rules.Finding
	for _, f := range append(c.Take(), c.End()...) {
		if f.Rule == "cookie-set-over-tls-leaked" {
			leak = &f
		}
	}
	if leak == nil {
		t.Fatal("no cookie-set-over-tls-leaked")
	}
	if leak.Frame != 50 || leak.Client.Addr() != netip.AddrFrom4([4]byte{10, 0, 1, 99}) || leak.Path != "/from/99" ||
		len(leak.Chain) != 2 || leak.Chain[0].Frame != 1 || leak.Chain[1].Frame != 50 || leak.Chain[1].Detail != "GET /from/99" {
		t.Errorf("leak evidence %+v, want the ninth client's request (frame 50)", leak)
	}
}

// TestLeakKnownOverTLSOnlyDecrypted: a host seen over TLS only through a
// decrypted response that set the value with Secure (so not the exact
// case): the leak's chain starts at that response, confidence Firm as it
// came before the plaintext send.
func TestLeakKnownOverTLSOnlyDecrypted(t *testing.T) {
	c, err := New(Config{Key: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cli, srv := netip.MustParseAddrPort("10.0.0.2:40000"), netip.MustParseAddrPort("192.0.2.80:443")
	req := &httpparse.Request{Message: httpparse.Message{Client: cli, Server: srv, Frame: 10, Time: t0}, Method: "POST", Host: "shop.example", Path: "/x"}
	c.TLSResponse("f.pcap", &httpparse.Response{
		Message: httpparse.Message{Client: cli, Server: srv, Frame: 11, Time: t0.Add(time.Millisecond)}, Status: 200, Request: req,
		SetCookies: []httpparse.SetCookie{{Name: "sessionid", Value: "tls-set-value-0123456789", Secure: true, HttpOnly: true}},
	})
	c.Request("f.pcap", &httpparse.Request{
		Message: httpparse.Message{Client: cli, Server: netip.MustParseAddrPort("192.0.2.80:80"), Frame: 20, Time: t0.Add(time.Second)},
		Method:  "GET", Host: "shop.example", Path: "/cart",
		Cookies: []httpparse.Cookie{{Name: "sessionid", Value: "tls-set-value-0123456789"}},
	})
	var leak *rules.Finding
	for _, f := range append(c.Take(), c.End()...) {
		if f.Rule == "cookie-set-over-tls-leaked" {
			leak = &f
		}
	}
	if leak == nil {
		t.Fatal("no cookie-set-over-tls-leaked")
	}
	if leak.Confidence != rules.Firm || leak.Frame != 20 || len(leak.Chain) != 2 ||
		leak.Chain[0].Kind != "tls-response" || leak.Chain[0].Frame != 11 || leak.Chain[1].Frame != 20 || leak.Chain[1].Detail != "GET /cart" {
		t.Errorf("leak %+v (confidence %v), want chain tls-response 11, request 20, Firm", leak, leak.Confidence)
	}
}
