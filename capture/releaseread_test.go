//go:build linux

package capture

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// vmaRSS returns the resident kilobytes of the mapping that starts at addr
// (/proc/self/smaps).
func vmaRSS(t *testing.T, addr uintptr) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	want := strconv.FormatUint(uint64(addr), 16) + "-"
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "-") && !strings.Contains(line, ":") || strings.Count(strings.Fields(line)[0], "-") == 1 && len(strings.Fields(line)) > 4 {
			in = strings.HasPrefix(line, want)
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, err := strconv.Atoi(strings.Fields(line)[1])
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("mapping at %x not in smaps", addr)
	return 0
}

// TestReleaseReadGivesPagesBack: reading bytes of a mapping whose pages were
// given back maps them (and the kernel's fault-around span) again;
// releaseRead, which the overlap-conflict check calls after comparing a
// retransmission with its original in the mapping, gives them back, so a
// lossy capture does not end with much of its file resident.
func TestReleaseReadGivesPagesBack(t *testing.T) {
	const size = 8 << 20
	m := mapZeros(t, size, syscall.MAP_PRIVATE)
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	sum := 0
	for i := 0; i < size; i += 4096 {
		sum += int(m[i])
	}
	if err := syscall.Madvise(m, syscall.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	base := vmaRSS(t, addr)
	// Read 1,400 bytes in each of 32 places spread over the file, as
	// retransmission checks do, giving them back after each.
	for i := 0; i < 32; i++ {
		off := uint64(i)*(size/32) + 3000
		for _, b := range m[off : off+1400] {
			sum += int(b)
		}
		releaseRead(m, off, 1400)
	}
	if got := vmaRSS(t, addr); got > base+64 {
		t.Errorf("after 32 reads given back: mapping resident %d KiB, was %d KiB", got, base)
	}
	// Without giving back, the same reads stay resident: the check above
	// can fail.
	for i := 0; i < 32; i++ {
		off := uint64(i)*(size/32) + 3000
		for _, b := range m[off : off+1400] {
			sum += int(b)
		}
	}
	if got := vmaRSS(t, addr); got < base+32*4 {
		t.Errorf("after 32 reads kept: mapping resident %d KiB, want at least %d KiB more than %d", got, 32*4, base)
	}
	if sum != 0 {
		t.Fatal("file of zeros read as non-zero")
	}
}

// TestReleaseToWholeSteps: releaseTo gives pages back up to a 2 MiB
// boundary of the address space at or before the offset asked for (a
// page cache holding the file in 2 MiB folios maps each whole; giving back
// part of one splits it), never moves back, and what it gave back is no
// longer resident.
func TestReleaseToWholeSteps(t *testing.T) {
	const size = 12 << 20
	data := mapZeros(t, size, syscall.MAP_SHARED)
	base := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	m := &mmapPcap{data: data}
	sum := 0
	for i := 0; i < size; i += 4096 {
		sum += int(data[i])
	}
	before := vmaRSS(t, base)
	last := 0
	for _, end := range []int{100, 3<<20 + 5000, 3 << 20, 7<<20 + 1, size - 1} {
		m.releaseTo(end)
		if m.released < last {
			t.Fatalf("releaseTo(%d): released moved back from %d to %d", end, last, m.released)
		}
		if m.released > end || m.released > 0 && (base+uintptr(m.released))%faultAround != 0 {
			t.Fatalf("releaseTo(%d): released up to %d (address %x), want a 2 MiB boundary at or before %d", end, m.released, base+uintptr(m.released), end)
		}
		if end-m.released >= faultAround && m.released < end-faultAround {
			t.Fatalf("releaseTo(%d): released only up to %d, more than 2 MiB before", end, m.released)
		}
		last = m.released
	}
	if m.released < size-1-faultAround {
		t.Fatalf("released %d of %d bytes", m.released, size)
	}
	if got, want := vmaRSS(t, base), before-m.released>>10; got > want+64 {
		t.Errorf("after giving back %d KiB: %d KiB resident, was %d", m.released>>10, got, before)
	}
	if sum != 0 {
		t.Fatal("file of zeros read as non-zero")
	}
}

// mapZeros maps, read-only with the given flags, a file of size zero
// bytes made for the test; the mapping goes when the test ends.
func mapZeros(t *testing.T, size int, flags int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the mapping outlives the descriptor
	m, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, flags)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(m) })
	return m
}
