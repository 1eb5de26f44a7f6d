package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cookiewatch/cookiewatch/rules"
)

// corpusDir finds ../shared/corpus (public captures with tshark's oracle).
// CI has it beside the clone; with CI=true its absence fails the test.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("COOKIEWATCH_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.tsv")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus not found at %s (set COOKIEWATCH_CORPUS): %v", dir, err)
		}
		t.Skipf("corpus not found at %s: %v", dir, err)
	}
	return dir
}

// headerRow is one Set-Cookie or Cookie header line seen on the wire.
type headerRow struct {
	frame                  string
	kind                   string // "set-cookie" or "cookie"
	src, sport, dst, dport string
	value                  string
}

func (r headerRow) key() string {
	return strings.Join([]string{r.kind, r.src, r.sport, r.dst, r.dport, r.value}, "\t")
}

func readOracle(t *testing.T, path string) []headerRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []headerRow
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for i := 0; sc.Scan(); i++ {
		if i == 0 {
			continue // header
		}
		c := strings.Split(sc.Text(), "\t")
		if len(c) != 10 {
			t.Fatalf("%s: line %d has %d columns", path, i+1, len(c))
		}
		rows = append(rows, headerRow{frame: c[0], src: c[2], sport: c[3], dst: c[4], dport: c[5], kind: c[6], value: strings.TrimSpace(c[9])})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// ourRows turns findings from --all-cookies --each --show-values into one row
// per header line: every Set-Cookie line yields one cleartext-set-cookie
// finding, every Cookie line one cleartext-cookie finding per pair.
func ourRows(fs []*rules.Finding) []headerRow {
	var rows []headerRow
	seen := map[string]bool{}
	for _, f := range fs {
		r := headerRow{frame: fmt.Sprint(f.Frame), value: strings.TrimSpace(f.Line)}
		switch f.Rule {
		case "cleartext-set-cookie":
			r.kind = "set-cookie"
			r.src, r.sport, r.dst, r.dport = addrPort(f.Server, f.Client)
		case "cleartext-cookie":
			r.kind = "cookie"
			r.src, r.sport, r.dst, r.dport = addrPort(f.Client, f.Server)
			k := fmt.Sprint(f.Message, "/", f.LineIndex)
			if seen[k] {
				continue
			}
			seen[k] = true
		default:
			continue
		}
		rows = append(rows, r)
	}
	return rows
}

func addrPort(a, b interface {
	String() string
}) (string, string, string, string) {
	split := func(s string) (string, string) {
		i := strings.LastIndexByte(s, ':')
		return strings.Trim(s[:i], "[]"), s[i+1:]
	}
	x, xp := split(a.String())
	y, yp := split(b.String())
	return x, xp, y, yp
}

// frameExceptions lists, per capture, header lines whose frame number
// differs from tshark's for a known reason, keyed "file\tkind\ttshark-frame".
var frameExceptions = map[string]string{}

// extraExceptions lists header lines cookiewatch reports that the oracle
// lacks, keyed "file\tkind\tour-frame", with the reason.
var extraExceptions = map[string]string{}

func TestCorpusAgainstTshark(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus run")
	}
	dir := corpusDir(t)
	oracles, err := filepath.Glob(filepath.Join(dir, "oracle", "*.tsv"))
	if err != nil || len(oracles) == 0 {
		t.Fatalf("no oracle files in %s (err %v)", dir, err)
	}
	var totalOracle, totalFound, totalFrameOK int
	var notes []string
	for _, op := range oracles {
		name := strings.TrimSuffix(filepath.Base(op), ".tsv")
		t.Run(name, func(t *testing.T) {
			want := readOracle(t, op)
			cfg := config{files: []string{filepath.Join(dir, "pcaps", name)}, each: true}
			cfg.opts.Classifier.All = true
			cfg.opts.ShowValues = true
			_, sorted, err := analyze(cfg, io.Discard)
			fs := sorted.Materialise() // nil-safe: empty on error
			if err != nil {
				t.Fatalf("analyze: %v", err)
			}
			got := ourRows(fs)
			totalOracle += len(want)
			// Match exact (key and frame) first, then by key alone.
			used := make([]bool, len(got))
			byKey := map[string][]int{}
			for i, g := range got {
				byKey[g.key()] = append(byKey[g.key()], i)
			}
			var unmatched []headerRow
			for _, w := range want {
				found := -1
				for _, i := range byKey[w.key()] {
					if !used[i] && got[i].frame == w.frame {
						found = i
						break
					}
				}
				if found >= 0 {
					used[found] = true
					totalFound++
					totalFrameOK++
					continue
				}
				unmatched = append(unmatched, w)
			}
			for _, w := range unmatched {
				found := -1
				for _, i := range byKey[w.key()] {
					if !used[i] {
						found = i
						break
					}
				}
				if found < 0 {
					t.Errorf("missed %s at frame %s: %.120s", w.kind, w.frame, w.value)
					continue
				}
				used[found] = true
				totalFound++
				k := name + "\t" + w.kind + "\t" + w.frame
				if reason, ok := frameExceptions[k]; ok {
					notes = append(notes, fmt.Sprintf("%s: %s tshark frame %s, ours %s: %s", name, w.kind, w.frame, got[found].frame, reason))
				} else {
					t.Errorf("%s at tshark frame %s reported at frame %s: %.80s", w.kind, w.frame, got[found].frame, w.value)
				}
			}
			for i, g := range got {
				if used[i] {
					continue
				}
				k := name + "\t" + g.kind + "\t" + g.frame
				if reason, ok := extraExceptions[k]; ok {
					notes = append(notes, fmt.Sprintf("%s: extra %s at frame %s: %s", name, g.kind, g.frame, reason))
				} else {
					t.Errorf("extra %s at frame %s not in tshark's oracle: %.120s", g.kind, g.frame, g.value)
				}
			}
		})
	}
	sort.Strings(notes)
	t.Logf("corpus: %d oracle header lines, %d found, %d at tshark's frame", totalOracle, totalFound, totalFrameOK)
	for _, n := range notes {
		t.Log(n)
	}
}
