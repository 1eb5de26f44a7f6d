package correlate

import (
	"testing"
	"time"
)

func TestSeenPlaintext(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	buf := []byte("Shop.Example:8080")
	c.SeenPlaintext(string(buf), t0)
	c.SeenPlaintext("shop.example", t0.Add(time.Minute))
	c.SeenPlaintext("10.0.0.1", t0)
	c.SeenPlaintext("", t0)
	hosts := c.Hosts()
	if len(hosts) != 2 {
		t.Fatalf("hosts = %+v, want shop.example and 10.0.0.1", hosts)
	}
	for _, h := range hosts {
		if !h.Plaintext || h.TLS {
			t.Errorf("host %s: plaintext %v tls %v", h.Host, h.Plaintext, h.TLS)
		}
		if h.Host == "shop.example" && !h.Last.Equal(t0.Add(time.Minute)) {
			t.Errorf("shop.example last = %v", h.Last)
		}
	}
	if n := testing.AllocsPerRun(100, func() { c.SeenPlaintext("shop.example", t0) }); n != 0 {
		t.Errorf("SeenPlaintext of a known host allocates %v times", n)
	}
}
