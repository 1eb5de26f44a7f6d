//go:build !unix

package capture

import (
	"os"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// mmapPcap is unix-only; elsewhere files are read through pcapgo.
type mmapPcap struct {
	data          []byte
	off           int
	linkType      layers.LinkType
	rawLT         int
	manualRelease bool
}

func openMmap(*os.File) (*mmapPcap, error) { return nil, nil }

func (m *mmapPcap) next() ([]byte, gopacket.CaptureInfo, error) {
	panic("capture: mmap reader on a platform without it")
}

func (m *mmapPcap) close() error { return nil }

func (m *mmapPcap) releaseTo(int) {}

func releaseRead([]byte, uint64, uint64) {}
