package tlsdecrypt

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// pcapng block types (draft-ietf-opsawg-pcapng).
const (
	blockSHB     = 0x0A0D0D0A
	blockDSB     = 0x0000000A
	blockPacket  = 0x00000002 // obsolete Packet Block
	blockSimple  = 0x00000003
	blockEPB     = 0x00000006
	secretsTLSKL = 0x544c534b // "TLSK": an NSS key log
	maxDSB       = 64 << 20   // secrets kept from one file
)

// ReadPcapngSecrets reads the TLS key logs of the Decryption Secrets Blocks
// of a pcapng capture (optionally gzip-compressed) into k and returns how
// many blocks it read. It reads blocks up to the first packet block, which is
// where editcap --inject-secrets writes them (Wireshark too needs a block
// before the packets it decrypts); later blocks are not seen. A pcap file or
// a file that is not pcapng yields 0 and no error: the capture reader
// reports what it is. gopacket's pcapgo.NgReader skips these blocks.
func ReadPcapngSecrets(name string, r io.Reader, k *KeyLog) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if m, err := br.Peek(2); err == nil && m[0] == 0x1f && m[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return 0, nil // the capture reader reports the bad gzip
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	var bo binary.ByteOrder
	blocks, total := 0, 0
	var hdr [12]byte
	for {
		if _, err := io.ReadFull(br, hdr[:8]); err != nil {
			return blocks, nil // end of file, or a cut the capture reader reports
		}
		if binary.LittleEndian.Uint32(hdr[:4]) == blockSHB {
			if _, err := io.ReadFull(br, hdr[8:12]); err != nil {
				return blocks, nil
			}
			switch binary.LittleEndian.Uint32(hdr[8:12]) {
			case 0x1A2B3C4D:
				bo = binary.LittleEndian
			case 0x4D3C2B1A:
				bo = binary.BigEndian
			default:
				return blocks, nil
			}
			if err := skip(br, int64(bo.Uint32(hdr[4:8]))-12); err != nil {
				return blocks, nil
			}
			continue
		}
		if bo == nil {
			return 0, nil // not pcapng
		}
		typ, size := bo.Uint32(hdr[:4]), int64(bo.Uint32(hdr[4:8]))
		if size < 12 || size%4 != 0 {
			return blocks, nil
		}
		switch typ {
		case blockPacket, blockSimple, blockEPB:
			return blocks, nil
		case blockDSB:
			if size-12 > maxDSB-int64(total) {
				return blocks, fmt.Errorf("%w: %s: decryption secrets larger than %d bytes", ErrKeyLog, name, maxDSB)
			}
			body := make([]byte, size-8)
			if _, err := io.ReadFull(br, body); err != nil {
				return blocks, nil
			}
			if len(body) < 12 {
				continue
			}
			stype, slen := bo.Uint32(body[:4]), int64(bo.Uint32(body[4:8]))
			if slen > int64(len(body))-12 {
				return blocks, fmt.Errorf("%w: %s: decryption secrets block %d: bad length", ErrKeyLog, name, blocks+1)
			}
			total += int(slen)
			blocks++
			if stype != secretsTLSKL {
				continue // WireGuard, ZigBee, SSH… secrets
			}
			if err := k.Parse(fmt.Sprintf("%s (decryption secrets block %d)", name, blocks), bytes.NewReader(body[8:8+slen])); err != nil {
				return blocks, err
			}
		default:
			if err := skip(br, size-8); err != nil {
				return blocks, nil
			}
		}
	}
}

func skip(br *bufio.Reader, n int64) error {
	if n < 0 {
		return errors.New("negative block size")
	}
	_, err := br.Discard(int(n))
	return err
}
