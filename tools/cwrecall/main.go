// Command cwrecall compares cookiewatch's findings with a cwgen ground truth:
//
//	cookiewatch -r F --each --all-cookies --show-values --format json | cwrecall -truth F.truth
//
// With --each, --all-cookies and --show-values every cookie header yields at
// least one finding carrying the header's value, its direction and its frame.
// cwrecall prints how many ground-truth headers (all, and intact ones) were
// found at their frame, and exits 1 when an intact header was missed.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

type key struct {
	frame uint64
	kind  string
	value string
}

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cwrecall", flag.ContinueOnError)
	fs.SetOutput(stderr)
	truthPath := fs.String("truth", "", "ground-truth `file` written by cwgen")
	show := fs.Int("show", 5, "print up to this many missed intact headers")
	if err := fs.Parse(args); err != nil || *truthPath == "" {
		fmt.Fprintln(stderr, "usage: cwrecall -truth FILE < findings.jsonl")
		return 2
	}
	found := map[key]bool{}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var f struct {
			Type      string `json:"type"`
			Frame     uint64 `json:"frame"`
			Direction string `json:"direction"`
			Header    string `json:"header"`
		}
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			fmt.Fprintf(stderr, "cwrecall: findings: %v\n", err)
			return 2
		}
		if f.Type != "finding" {
			continue
		}
		kind := "cookie"
		if f.Direction == "response" {
			kind = "set-cookie"
		}
		found[key{f.Frame, kind, f.Header}] = true
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(stderr, "cwrecall: findings: %v\n", err)
		return 2
	}
	tf, err := os.Open(*truthPath)
	if err != nil {
		fmt.Fprintln(stderr, "cwrecall:", err)
		return 2
	}
	defer tf.Close()
	var all, allHit, intact, intactHit int
	ts := bufio.NewScanner(tf)
	ts.Buffer(make([]byte, 1<<20), 1<<24)
	for ts.Scan() {
		parts := strings.SplitN(ts.Text(), "\t", 4)
		if len(parts) != 4 {
			fmt.Fprintf(stderr, "cwrecall: bad truth line %q\n", ts.Text())
			return 2
		}
		var k key
		fmt.Sscan(parts[0], &k.frame)
		k.kind, k.value = parts[1], parts[3]
		hit := found[k]
		all++
		if hit {
			allHit++
		}
		if parts[2] == "1" {
			intact++
			if hit {
				intactHit++
			} else if *show > 0 {
				*show--
				fmt.Fprintf(stderr, "cwrecall: missed intact %s at frame %d: %.60q\n", k.kind, k.frame, k.value)
			}
		}
	}
	if err := ts.Err(); err != nil {
		fmt.Fprintln(stderr, "cwrecall:", err)
		return 2
	}
	fmt.Fprintf(stdout, "recall intact %d/%d = %s; all %d/%d = %s\n",
		intactHit, intact, pct(intactHit, intact), allHit, all, pct(allHit, all))
	if intactHit != intact {
		return 1
	}
	return 0
}

func pct(a, b int) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3f%%", 100*float64(a)/float64(b))
}
