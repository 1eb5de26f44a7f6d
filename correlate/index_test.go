package correlate

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

// TestLoginIndex drives random traffic (values evicted by the limit and the
// window, logins by request and by response) and checks after each message
// that byClient indexes exactly the tracked values under each of their
// clients, and that value.used orders the value list, as recheckLogins
// relies on.
func TestLoginIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c, err := New(Config{Key: []byte("k"), MaxValues: 40, Window: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := netip.MustParseAddrPort("192.0.2.80:80")
	for i := range 5000 {
		at := t0.Add(time.Duration(i)*100*time.Millisecond - time.Duration(rng.IntN(2000))*time.Millisecond +
			time.Duration(i/500)*time.Minute) // a pause every 500 messages: the window expires values
		cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(6))}), 40000)
		host := fmt.Sprintf("h%d.example", rng.IntN(3))
		req := &httpparse.Request{
			Message: httpparse.Message{Client: cli, Server: srv, Frame: uint64(i + 1), Time: at},
			Method:  "GET", Host: host, Path: "/",
			Cookies: []httpparse.Cookie{{Name: "sessionid", Value: fmt.Sprintf("v%02d-0123456789", rng.IntN(60))}},
		}
		switch rng.IntN(10) {
		case 0:
			req.Method, req.Path = "POST", "/login"
			c.Request("t.pcap", req)
		case 1:
			c.Response("t.pcap", &httpparse.Response{
				Message: httpparse.Message{Client: cli, Server: srv, Frame: uint64(i + 1), Time: at}, Status: 200, Request: req,
				SetCookies: []httpparse.SetCookie{{Name: "remember_me", Value: "x0123456789"}},
			})
		default:
			c.Request("t.pcap", req)
		}
		c.Take()
		checkIndex(t, c)
		if t.Failed() {
			t.Fatalf("after message %d", i)
		}
	}
	if st := c.Stats(); st.Evictions["value-limit"] == 0 || st.Evictions["value-window"] == 0 {
		t.Errorf("evictions %v: the test should exercise both", st.Evictions)
	}
}

func checkIndex(t *testing.T, c *Correlator) {
	t.Helper()
	n, last := 0, ^uint64(0)
	listed, prev := 0, int32(-1)
	for vi := c.vhead; vi >= 0; vi = c.val(vi).next {
		v := c.val(vi)
		if v.prev != prev {
			t.Errorf("value list: slot %d's prev is %d, want %d", vi, v.prev, prev)
		}
		prev = vi
		if got, ok := c.lookup(v.key); !ok || got != vi {
			t.Errorf("value list: slot %d not indexed by its key", vi)
		}
		listed++
		if v.used >= last {
			t.Errorf("value list not in used order: %d after %d", v.used, last)
		}
		last = v.used
		for i := range int(v.nclients) {
			cu := c.client(vi, i)
			vs := c.byClient[hostClient{v.host, cu.addr}]
			if int(cu.idx) >= len(vs) || vs[cu.idx] != vi {
				t.Errorf("value %s/%s client %v: not at index %d of %d", c.str(v.host), c.str(v.name), cu.addr.unpack(), cu.idx, len(vs))
			}
			n++
		}
	}
	if prev != c.vtail || listed != c.nvalues {
		t.Errorf("value list: %d slots ending at %d, want %d ending at %d", listed, prev, c.nvalues, c.vtail)
	}
	refs := make([]uint32, len(c.strs))
	for vi := c.vhead; vi >= 0; vi = c.val(vi).next {
		refs[c.val(vi).host]++
		refs[c.val(vi).name]++
	}
	for id := 1; id < len(c.strs); id++ {
		if refs[id] != c.strRefs[id] || (refs[id] == 0) != (c.strs[id] == "") {
			t.Errorf("string %d %q: %d references counted, %d held", id, c.strs[id], c.strRefs[id], refs[id])
		}
		if refs[id] > 0 && c.strIDs[c.strs[id]] != strID(id) {
			t.Errorf("string %d %q not indexed", id, c.strs[id])
		}
	}
	if live := len(c.strs) - 1 - len(c.strFree); len(c.strs) > 0 && live != len(c.strIDs) {
		t.Errorf("%d strings live, %d indexed", live, len(c.strIDs))
	}
	entries := 0
	for _, e := range c.vindex {
		if e == 0 {
			continue
		}
		entries++
		if got, ok := c.lookup(c.val(e - 1).key); !ok || got != e-1 {
			t.Errorf("index entry for slot %d not found by its key", e-1)
		}
	}
	if entries != c.nvalues {
		t.Errorf("index holds %d entries, %d values tracked", entries, c.nvalues)
	}
	free := 0
	for vi := c.vfree; vi >= 0; vi = c.val(vi).next {
		if v := c.val(vi); v.ev != nil || c.moreClients[vi] != nil || c.tlsSets[vi] != nil || v.nclients != 0 || v.tlsSet {
			t.Errorf("free slot %d still holds state", vi)
		}
		free++
	}
	if free+listed != len(c.vchunks)*int(valueChunk) {
		t.Errorf("%d free and %d used slots in %d chunks", free, listed, len(c.vchunks))
	}
	m := 0
	for _, vs := range c.byClient {
		if len(vs) == 0 {
			t.Errorf("empty index entry kept")
		}
		m += len(vs)
	}
	if m != n {
		t.Errorf("index holds %d entries, values have %d clients", m, n)
	}
}

// TestValueIndexChurn inserts and removes values in random order (many
// collisions: a small table and keys that share their home bucket) and checks
// that lookup finds exactly the values present, so the backward shift of
// removeIndex never strands an entry.
func TestValueIndexChurn(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	c, err := New(Config{Key: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	present := map[[16]byte]int32{}
	var keys [][16]byte
	for i := range 8000 {
		if len(present) > 0 && rng.IntN(5) < 2 {
			k := keys[rng.IntN(len(keys))]
			if vi, ok := present[k]; ok {
				c.removeIndex(k)
				c.freeValue(vi)
				delete(present, k)
			}
		} else {
			var k [16]byte
			// 512 distinct homes at most: long probe runs that wrap around.
			h := rng.IntN(512)
			k[0], k[1] = byte(h), byte(h>>8)
			k[8], k[9], k[10] = byte(i), byte(i>>8), byte(i>>16)
			vi := c.allocValue()
			c.val(vi).key = k
			c.insertIndex(vi)
			present[k] = vi
			keys = append(keys, k)
		}
		if i%199 == 0 || i > 7990 {
			for _, k := range keys {
				vi, ok := c.lookup(k)
				want, in := present[k]
				if ok != in || ok && vi != want {
					t.Fatalf("step %d: lookup %x = %d, %v; want %d, %v", i, k[:1], vi, ok, want, in)
				}
			}
		}
	}
	if c.nvalues != len(present) {
		t.Errorf("%d values counted, %d present", c.nvalues, len(present))
	}
}
