package report

import (
	"encoding/binary"
	"io"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// terminalSafeJSON escapes, in JSON already encoded by encoding/json, the
// runes that json leaves raw but a terminal may act on: C1 controls
// (U+0080–U+009F, e.g. U+009B is an 8-bit CSI) and bidirectional controls
// (U+202E and friends). They can only occur inside JSON strings, where a
// \uXXXX escape means the same text. encoding/json already escapes C0
// controls and replaces invalid UTF-8 with U+FFFD.
type terminalSafeJSON struct{ w io.Writer }

func (s terminalSafeJSON) Write(p []byte) (int, error) {
	// Most lines are ASCII: skip to the first byte that is not, eight at a time.
	i := 0
	for ; i+8 <= len(p); i += 8 {
		if binary.LittleEndian.Uint64(p[i:])&0x8080808080808080 != 0 {
			break
		}
	}
	var out []byte
	last := 0
	for i < len(p) {
		if p[i] < utf8.RuneSelf {
			// ASCII again: skip eight bytes at a time from here too (a
			// write of many lines has non-ASCII text here and there).
			for i++; i+8 <= len(p) && binary.LittleEndian.Uint64(p[i:])&0x8080808080808080 == 0; i += 8 {
			}
			continue
		}
		r, n := utf8.DecodeRune(p[i:])
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			if out == nil {
				out = make([]byte, 0, len(p)+16)
			}
			out = append(out, p[last:i]...)
			out = append(out, `\u`...)
			hex := strconv.FormatUint(uint64(r), 16)
			for k := len(hex); k < 4; k++ {
				out = append(out, '0')
			}
			out = append(out, hex...)
			last = i + n
		}
		i += n
	}
	if out == nil {
		return s.w.Write(p)
	}
	out = append(out, p[last:]...)
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
