package gen

import (
	"bytes"
	"testing"
)

// TestDeterministic: the same Config gives the same capture and truth; another
// seed gives another capture.
func TestDeterministic(t *testing.T) {
	run := func(seed uint64) ([]byte, []byte, Result) {
		var p, tr bytes.Buffer
		res, err := Generate(Config{Seed: seed, Bytes: 1 << 20, Conns: 50, Faults: true}, &p, &tr)
		if err != nil {
			t.Fatal(err)
		}
		return p.Bytes(), tr.Bytes(), res
	}
	p1, t1, r1 := run(1)
	p2, t2, _ := run(1)
	p3, _, _ := run(2)
	if !bytes.Equal(p1, p2) || !bytes.Equal(t1, t2) {
		t.Error("same seed, different output")
	}
	if bytes.Equal(p1, p3) {
		t.Error("different seeds, same capture")
	}
	if r1.Bytes != int64(len(p1)) || r1.Headers != bytes.Count(t1, []byte("\n")) || r1.Headers == 0 {
		t.Errorf("result %+v does not match %d bytes, %d truth lines", r1, len(p1), bytes.Count(t1, []byte("\n")))
	}
}
