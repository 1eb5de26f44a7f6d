package report

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// ErrBaseline is wrapped by errors about a --baseline file.
var ErrBaseline = errors.New("baseline")

// ReadBaseline reads a previous JSON Lines report and returns the
// fingerprints of its findings. Records must carry the current schema's
// fingerprint; anything else is an error naming the line.
func ReadBaseline(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBaseline, err)
	}
	defer f.Close()
	known := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	n, summary := 0, false
	for sc.Scan() {
		n++
		var rec struct {
			Type        string `json:"type"`
			Version     int    `json:"version"`
			Fingerprint string `json:"fingerprint"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: not a cookiewatch JSON report line: %v", ErrBaseline, path, n, err)
		}
		switch {
		case rec.Type == "summary":
			summary = true
		case rec.Type != "finding":
			return nil, fmt.Errorf("%w: %s:%d: record type %q, want finding or summary", ErrBaseline, path, n, rec.Type)
		case rec.Version < 2 || rec.Fingerprint == "":
			return nil, fmt.Errorf("%w: %s:%d: finding without a fingerprint (schema version %d; rerun with this cookiewatch)", ErrBaseline, path, n, rec.Version)
		default:
			known[rec.Fingerprint] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBaseline, path, err)
	}
	if !summary {
		return nil, fmt.Errorf("%w: %s: no summary record: not a complete cookiewatch JSON report (use --format json)", ErrBaseline, path)
	}
	return known, nil
}
