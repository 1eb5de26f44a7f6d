package capture

import (
	"fmt"
	"runtime/debug"

	"github.com/google/gopacket/layers"
)

// mappedSource is a Source reading from a memory mapping (*File on a
// classic pcap file): a file cut shorter while it is read makes the reads
// fault.
type mappedSource interface {
	Mapped() bool
	inMapping(addr uintptr) bool
	mapping() []byte // the whole file
}

// guardedLoop runs loop; for a mapped source, a memory fault inside the
// mapping (the file was truncated by someone else during the run) ends the
// run with an ErrTruncated error instead of killing the process.
func (a *Analyzer) guardedLoop(src Source, fileLT layers.LinkType, plt PacketLinkTyper) (err error) {
	ms, ok := src.(mappedSource)
	if !ok || !ms.Mapped() {
		return a.loop(src, fileLT, plt)
	}
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if mappingFault(r, ms) {
			a.stats.Truncated = true
			a.stats.TruncatedOffset = -1
			err = fmt.Errorf("%w: the file shrank while it was read (fault in frame %d)", ErrTruncated, a.frame)
			return
		}
		panic(r)
	}()
	return a.loop(src, fileLT, plt)
}

// mappingFault reports whether r, a recovered panic value, is a memory fault
// inside ms's mapping (with debug.SetPanicOnFault on).
func mappingFault(r any, ms mappedSource) bool {
	fe, ok := r.(interface{ Addr() uintptr })
	return ok && ms.inMapping(fe.Addr())
}
