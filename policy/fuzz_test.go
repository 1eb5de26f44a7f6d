package policy

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse: any input parses or fails with ErrPolicy; never a panic.
func FuzzParse(f *testing.F) {
	if ex, err := os.ReadFile("../docs/policy.example.yaml"); err == nil {
		f.Add(ex)
	}
	for _, s := range []string{"version: 1\n", "version: 1\nignore:\n  - cookie: '['\n", "version: 1\nseverity: [a]\n", "- x\n", "version: 1\nsession:\n  patterns: ['(?P<']\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.yaml", data)
		if err != nil && !errors.Is(err, ErrPolicy) {
			t.Errorf("error %v does not wrap ErrPolicy", err)
		}
		if err == nil && p == nil {
			t.Error("nil policy without error")
		}
	})
}
