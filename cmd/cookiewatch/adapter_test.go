package main

import (
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestPipelineIntern: interned strings are copies (the parser's buffer
// may be reused), one copy per distinct string, and the table stays
// within its bounds whatever a capture sends.
func TestPipelineIntern(t *testing.T) {
	var p pipeline
	buf := []byte("Apache-Coyote/1.1")
	s := unsafe.String(&buf[0], len(buf)) // as a parser's header value
	a := p.intern(s)
	copy(buf, "XXXXXX")
	if a != "Apache-Coyote/1.1" {
		t.Fatalf("interned string changed with the buffer: %q", a)
	}
	b := p.intern("Apache-Coyote/1.1")
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("the same string interned twice gave two copies")
	}
	for i := range 3 * maxInterned {
		v := "server-" + strconv.Itoa(i)
		if got := p.intern(v); got != v {
			t.Fatalf("intern(%q) = %q", v, got)
		}
	}
	long := strings.Repeat("x", maxInternLen+1)
	if got := p.intern(long); got != long {
		t.Fatalf("intern of a long string = %q", got)
	}
	if len(p.interned) != maxInterned {
		t.Errorf("%d strings interned, bound %d", len(p.interned), maxInterned)
	}
	if _, ok := p.interned[long]; ok {
		t.Error("a string over maxInternLen was kept")
	}
}
