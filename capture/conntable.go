package capture

// connTable maps connection keys to their streams: open addressing with
// linear probing, indexed by the top bits of connKey.hash (its low bits are
// the shard, the same for every connection of an Analyzer). It replaces a
// Go map, whose hashing and comparing of the 40-byte key were most of the
// table's cost; here a slot holds the full hash, and a key is compared only
// when the hashes are equal (in the stream, which the reassembler reads
// next anyway).
type connTable struct {
	slots []connSlot // a power of two long, at most 3/4 full
	n     int
	shift uint // 64 - log2(len(slots))
}

type connSlot struct {
	h uint64
	s *stream // nil: empty
}

const connTableMin = 64

func (t *connTable) index(h uint64) uint64 { return h >> t.shift }

// get returns the stream of key k (with hash h), or nil.
func (t *connTable) get(k *connKey, h uint64) *stream {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.index(h); ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if sl.s == nil {
			return nil
		}
		if sl.h == h && sl.s.key == *k {
			return sl.s
		}
	}
}

// put makes s (whose key has hash h) the stream of its key.
func (t *connTable) put(s *stream, h uint64) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.index(h); ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if sl.s == nil {
			*sl = connSlot{h: h, s: s}
			t.n++
			return
		}
		if sl.h == h && sl.s.key == s.key {
			sl.s = s
			return
		}
	}
}

// del forgets key k (with hash h) if it is there.
func (t *connTable) del(k *connKey, h uint64) {
	if t.n == 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	i := t.index(h)
	for ; ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if sl.s == nil {
			return
		}
		if sl.h == h && sl.s.key == *k {
			break
		}
	}
	t.n--
	// Backward shift: move up every later entry of the run that may sit
	// in the emptied slot (its home is not between the slot and it), so
	// no lookup meets a hole before its key.
	for j := (i + 1) & mask; t.slots[j].s != nil; j = (j + 1) & mask {
		if (j-t.index(t.slots[j].h))&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = connSlot{}
}

func (t *connTable) grow() {
	old := t.slots
	size := max(connTableMin, 2*len(old))
	t.slots = make([]connSlot, size)
	t.shift = 64
	for n := size; n > 1; n >>= 1 {
		t.shift--
	}
	mask := uint64(size - 1)
	for _, sl := range old {
		if sl.s == nil {
			continue
		}
		i := t.index(sl.h)
		for t.slots[i].s != nil {
			i = (i + 1) & mask
		}
		t.slots[i] = sl
	}
}
