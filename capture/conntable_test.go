package capture

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestConnTableMatchesMap: random inserts, replacements, lookups and
// deletes (many keys in few slots' worth of hashes: long runs, wrapping
// around the end) give what a Go map gives.
func TestConnTableMatchesMap(t *testing.T) {
	for _, tc := range []struct {
		keys  int
		hashf func(k *connKey) uint64
	}{
		{5000, func(k *connKey) uint64 { return k.hash() }},
		// few distinct hashes (collisions) and hashes whose home is near
		// the end of the table (runs wrap around)
		{300, func(k *connKey) uint64 { return k.hash()&0xf | 0xfff0000000000000 }},
		{300, func(k *connKey) uint64 { return k.hash() % 7 }},
	} {
		rng := rand.New(rand.NewPCG(1, uint64(tc.keys)))
		keys := make([]connKey, tc.keys)
		for i := range keys {
			a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
			keys[i] = connKey{lo: a.As16(), loPort: uint16(i), hiPort: 80}
		}
		var tab connTable
		ref := map[connKey]*stream{}
		for op := range 200000 {
			k := &keys[rng.IntN(len(keys))]
			h := tc.hashf(k)
			switch rng.IntN(3) {
			case 0:
				s := &stream{key: *k}
				tab.put(s, h)
				ref[*k] = s
			case 1:
				tab.del(k, h)
				delete(ref, *k)
			}
			if got, want := tab.get(k, h), ref[*k]; got != want {
				t.Fatalf("op %d: get %p, want %p", op, got, want)
			}
			if tab.n != len(ref) {
				t.Fatalf("op %d: %d entries, want %d", op, tab.n, len(ref))
			}
		}
		for i := range keys {
			if got, want := tab.get(&keys[i], tc.hashf(&keys[i])), ref[keys[i]]; got != want {
				t.Fatalf("key %d: get %p, want %p", i, got, want)
			}
		}
	}
}
