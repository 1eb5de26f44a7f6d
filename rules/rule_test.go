package rules

import "testing"

// TestRuleKinds: a rule's check fires on no observation of a kind outside
// its kinds (the kinds judging lists it for): every observation of the
// catalogue's samples, with and without --all-cookies, given each other
// kind (and kinds no observation has). It also holds the lists' sizes for
// a request's cookies, which the kinds shortened.
func TestRuleKinds(t *testing.T) {
	tried := 0
	for _, all := range []bool{false, true} {
		opt := Options{Classifier: Classifier{All: all}}
		for _, r := range catalogue {
			for _, s := range append(append([]string(nil), r.Fires...), r.Silent...) {
				for _, o := range sampleObservations(s, opt) {
					for _, c := range catalogue {
						if c.kinds == 0 {
							t.Fatalf("rule %s has no kinds", c.ID)
						}
						for k := Kind(0); k < 8; k++ {
							if c.kinds.has(k) {
								continue
							}
							x := o
							x.Kind = k
							tried++
							if c.Check(&x) {
								t.Errorf("rule %s fires on %q as kind %v, not in its kinds", c.ID, s, k)
							}
						}
					}
				}
			}
		}
	}
	if tried == 0 {
		t.Fatal("nothing tried")
	}
	if n, m := len(judging[KindCookie][0]), len(judging[KindCookie][1]); n != 0 || m != 3 {
		t.Errorf("a request cookie is judged by %d rules, a session one by %d; want 0 and 3", n, m)
	}
}
