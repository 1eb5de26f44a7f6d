package tlsdecrypt

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"strings"
	"testing"
)

// pcapngBlock builds one block in byte order bo, body padded to 4 bytes.
func pcapngBlock(bo order, typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	b := bo.AppendUint32(nil, typ)
	b = bo.AppendUint32(b, n)
	b = append(b, body...)
	return bo.AppendUint32(b, n)
}

func dsb(bo order, stype uint32, data string) []byte {
	body := bo.AppendUint32(nil, stype)
	body = bo.AppendUint32(body, uint32(len(data)))
	return pcapngBlock(bo, blockDSB, append(body, data...))
}

func shb(bo order) []byte {
	body := bo.AppendUint32(nil, 0x1A2B3C4D)
	body = bo.AppendUint16(body, 1)
	body = bo.AppendUint16(body, 0)
	body = bo.AppendUint64(body, ^uint64(0))
	return pcapngBlock(bo, blockSHB, body)
}

func TestReadPcapngSecrets(t *testing.T) {
	line := func(b byte) string {
		return "CLIENT_RANDOM " + strings.Repeat(string(b), 64) + " " + strings.Repeat("ab", 48) + "\n"
	}
	build := func(bo order) []byte {
		var f []byte
		f = append(f, shb(bo)...)
		f = append(f, dsb(bo, secretsTLSKL, line('1'))...)
		f = append(f, dsb(bo, 0x57474b4c, "wireguard keys")...) // another kind: skipped
		f = append(f, pcapngBlock(bo, 1, make([]byte, 8))...)   // IDB
		f = append(f, dsb(bo, secretsTLSKL, line('2'))...)
		f = append(f, pcapngBlock(bo, blockEPB, make([]byte, 20))...)
		f = append(f, dsb(bo, secretsTLSKL, line('3'))...) // after the first packet: not read
		return f
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(build(binary.LittleEndian))
	zw.Close()
	tests := []struct {
		name   string
		file   []byte
		blocks int
		keys   int
	}{
		{name: "little endian", file: build(binary.LittleEndian), blocks: 3, keys: 2},
		{name: "big endian", file: build(binary.BigEndian), blocks: 3, keys: 2},
		{name: "gzip", file: gz.Bytes(), blocks: 3, keys: 2},
		{name: "pcap file", file: []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0}, blocks: 0, keys: 0},
		{name: "cut in a block", file: build(binary.LittleEndian)[:40], blocks: 0, keys: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &KeyLog{}
			n, err := ReadPcapngSecrets("f", bytes.NewReader(tt.file), k)
			if err != nil || n != tt.blocks || k.Len() != tt.keys {
				t.Errorf("blocks %d keys %d err %v; want %d, %d", n, k.Len(), err, tt.blocks, tt.keys)
			}
		})
	}
	t.Run("bad key log inside a block names the block, not the line", func(t *testing.T) {
		f := append(shb(binary.LittleEndian), dsb(binary.LittleEndian, secretsTLSKL, "CLIENT_RANDOM zz secretsecret\n")...)
		_, err := ReadPcapngSecrets("f", bytes.NewReader(f), &KeyLog{})
		if err == nil || !strings.Contains(err.Error(), "decryption secrets block 1") || strings.Contains(err.Error(), "secretsecret") {
			t.Errorf("err %v", err)
		}
	})
}

// order is a byte order that can append.
type order interface {
	binary.ByteOrder
	binary.AppendByteOrder
}
