package capture

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const corpusDir = "/work/shared/corpus"

// TestCorpus runs the Analyzer over every real capture in the shared corpus:
// no error, Open/Close balanced, and every file whose oracle lists Cookie or
// Set-Cookie lines yields delivered bytes containing "ookie:".
func TestCorpus(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "pcaps", "*"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no corpus under %s", corpusDir)
		}
		t.Skipf("no corpus under %s", corpusDir)
	}
	want := manifestCookies(t)
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rec := &recorder{}
			a, err := NewAnalyzer(Config{}, rec)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Run(f); err != nil {
				t.Fatalf("Run: %v", err)
			}
			rec.check(t)
			st := a.Stats()
			if st.ConnsOpened != st.ConnsClosed || st.ConnsOpened != uint64(len(rec.conns)) {
				t.Errorf("opened %d closed %d recorded %d", st.ConnsOpened, st.ConnsClosed, len(rec.conns))
			}
			var total int
			hits := 0
			for _, c := range rec.conns {
				for d := range c.bytes {
					total += c.bytes[d].Len()
					hits += bytes.Count(c.bytes[d].Bytes(), []byte("ookie:"))
				}
			}
			t.Logf("%s: %s frames=%d tcp=%d conns=%d bytes=%d ookie=%d gaps=%d skipped=%v frag=%d/%d", name, f.Format(), st.Packets, st.Decoded, len(rec.conns), total, hits, st.Gaps, st.Skipped, st.Fragments, st.Reassembled)
			if w, ok := want[name]; ok && w > 0 && hits == 0 {
				t.Errorf("oracle has %d cookie lines, delivered bytes have no \"ookie:\"", w)
			}
			if w, ok := want[name]; ok && hits < w {
				t.Logf("note: %d \"ookie:\" hits < %d oracle lines", hits, w)
			}
			if st.Decoded > 0 && len(rec.conns) == 0 {
				t.Errorf("TCP segments but no connections")
			}
			if uint64(len(rec.conns)) > st.Decoded {
				t.Errorf("%d conns from %d segments", len(rec.conns), st.Decoded)
			}
		})
	}
}

func manifestCookies(t *testing.T) map[string]int {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var cols []string
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if cols == nil {
			cols = fields
			continue
		}
		row := map[string]string{}
		for i, c := range cols {
			if i < len(fields) {
				row[c] = fields[i]
			}
		}
		sc, _ := strconv.Atoi(row["set_cookie_lines"])
		cc, _ := strconv.Atoi(row["cookie_request_lines"])
		out[row["file"]] = sc + cc
	}
	return out
}
