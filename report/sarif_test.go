package report

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// TestAppendIndentAsJSON: appendIndent indents the compact JSON that
// encoding/json writes exactly as json.Indent does, for SARIF results and
// for documents with empty, nested and string-embedded brackets.
func TestAppendIndentAsJSON(t *testing.T) {
	fs := append(sampleFindings(), benchFindings(50)...)
	var docs []any
	for i := range fs {
		docs = append(docs, sarifResultOf(fs[i], []string{"captures/a b.pcap"}, map[string]int{}))
	}
	docs = append(docs, sampleSummary(fs), []any{}, map[string]any{}, []any{[]any{}, map[string]any{"": []any{}}},
		"plain", 12, nil, true)
	strs := []string{"", `"`, `\`, `{`, `}`, `[`, `]`, `,`, `:`, "\x00", "\n", "é", "\u2028", `\"`, "<&>", "\xff"}
	rng := rand.New(rand.NewPCG(3, 4))
	var gen func(depth int) any
	gen = func(depth int) any {
		switch k := rng.IntN(6); {
		case depth > 3 || k == 0:
			var b []byte
			for range rng.IntN(4) {
				b = append(b, strs[rng.IntN(len(strs))]...)
			}
			return string(b)
		case k == 1:
			return rng.IntN(1000) - 500
		case k == 2 || k == 3:
			a := []any{}
			for range rng.IntN(4) {
				a = append(a, gen(depth+1))
			}
			return a
		default:
			m := map[string]any{}
			for range rng.IntN(4) {
				m[gen(4).(string)] = gen(depth + 1)
			}
			return m
		}
	}
	for range 500 {
		docs = append(docs, gen(0))
	}
	for i, d := range docs {
		var compact bytes.Buffer
		enc := json.NewEncoder(&compact)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(d); err != nil {
			t.Fatal(err)
		}
		src := bytes.TrimSuffix(compact.Bytes(), []byte("\n"))
		var want bytes.Buffer
		if err := json.Indent(&want, src, resultIndent, "  "); err != nil {
			t.Fatal(err)
		}
		if got := appendIndent([]byte("x"), src, resultIndent, "  "); string(got[1:]) != want.String() {
			t.Fatalf("doc %d: %s\ngot:\n%s\nwant:\n%s", i, src, got[1:], want.String())
		}
	}
}
