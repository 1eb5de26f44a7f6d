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
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
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
