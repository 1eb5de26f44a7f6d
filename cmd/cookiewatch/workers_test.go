package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cookiewatch/cookiewatch/internal/gen"
)

// genCapture writes a generated capture and its ground truth to a temporary
// directory.
func genCapture(t *testing.T, cfg gen.Config) (pcap, truth string) {
	t.Helper()
	dir := t.TempDir()
	pcap, truth = filepath.Join(dir, "gen.pcap"), filepath.Join(dir, "gen.truth")
	pf, err := os.Create(pcap)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := os.Create(truth)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Generate(cfg, pf, tf); err != nil {
		t.Fatal(err)
	}
	if err := pf.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tf.Close(); err != nil {
		t.Fatal(err)
	}
	return pcap, truth
}

func runOK(t *testing.T, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(args, nil, &stdout, &stderr); code != exitClean && code != exitFindings {
		t.Fatalf("run %v: exit %d; stderr:\n%s", args, code, stderr.String())
	}
	return stdout.Bytes()
}

// TestWorkers: the output does not depend on the number of workers, on a
// generated capture with faults and on the sample captures, in every
// output mode.
func TestWorkers(t *testing.T) {
	faulty, _ := genCapture(t, gen.Config{Seed: 3, Bytes: 6 << 20, Conns: 300, Faults: true})
	inputs := []string{faulty}
	samples, _ := filepath.Glob("../../testdata/pcap/*.pcap")
	inputs = append(inputs, samples...)
	for _, in := range inputs {
		for _, mode := range [][]string{{"--format", "json"}, {"--each", "--all-cookies", "--format", "json"}, {"--format", "table"}} {
			t.Run(filepath.Base(in)+strings.Join(mode, ""), func(t *testing.T) {
				args := append([]string{"-r", in}, mode...)
				one := runOK(t, append(args, "-workers", "1")...)
				for _, w := range []string{"2", "3"} {
					if got := runOK(t, append(args, "-workers", w)...); !bytes.Equal(got, one) {
						t.Errorf("-workers %s output differs from -workers 1:\n%s\nwant:\n%s", w, got, one)
					}
				}
			})
		}
	}
}

// TestGeneratedRecall: every cookie header of a generated capture whose
// header block was captured intact is reported at its frame (with --each,
// --all-cookies and --show-values every cookie header yields findings
// carrying its value); on the fault-free capture that is every header.
func TestGeneratedRecall(t *testing.T) {
	for _, faults := range []bool{false, true} {
		t.Run(fmt.Sprintf("faults=%v", faults), func(t *testing.T) {
			pcap, truth := genCapture(t, gen.Config{Seed: 11, Bytes: 8 << 20, Conns: 300, Faults: faults})
			out := runOK(t, "-r", pcap, "--each", "--all-cookies", "--show-values", "--format", "json")
			found := map[string]bool{}
			sc := bufio.NewScanner(bytes.NewReader(out))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var f struct {
					Type, Direction, Header string
					Frame                   uint64
				}
				if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
					t.Fatal(err)
				}
				kind := map[string]string{"request": "cookie", "response": "set-cookie"}[f.Direction]
				found[fmt.Sprintf("%d\t%s\t%s", f.Frame, kind, f.Header)] = true
			}
			data, err := os.ReadFile(truth)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			if len(lines) < 500 {
				t.Fatalf("only %d ground-truth headers", len(lines))
			}
			var intact, missed int
			for _, l := range lines {
				p := strings.SplitN(l, "\t", 4)
				if _, err := strconv.ParseUint(p[0], 10, 64); err != nil || len(p) != 4 {
					t.Fatalf("bad truth line %q", l)
				}
				if p[2] != "1" {
					continue
				}
				intact++
				if !found[p[0]+"\t"+p[1]+"\t"+p[3]] {
					if missed++; missed <= 5 {
						t.Errorf("missed intact %s at frame %s: %.60q", p[1], p[0], p[3])
					}
				}
			}
			if missed > 0 {
				t.Errorf("recall %d/%d intact headers", intact-missed, intact)
			}
			if !faults && intact != len(lines) {
				t.Errorf("fault-free capture: %d of %d headers intact", intact, len(lines))
			}
		})
	}
}
