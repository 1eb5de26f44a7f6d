package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/rules"
)

func TestExampleLoads(t *testing.T) {
	p, err := Load("../docs/policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var opt rules.Options
	p.Apply(&opt)
	if !opt.Disabled["no-host-prefix"] || opt.Severity["missing-samesite"] != rules.Medium || opt.LifetimeThreshold != 12*time.Hour {
		t.Errorf("options = %+v", opt)
	}
	if p.FailOn != rules.Medium || !p.FailOnSet || p.FailOnNever || len(p.Ignore) != 2 || p.Ignore[1].Reason == "" {
		t.Errorf("policy = %+v", p)
	}
	for name, want := range map[string]bool{"ACME_SID": true, "acme_x_token": true, "acme_ab_test": false, "tracking_id": false} {
		if got := opt.Classifier.Classify(name, "9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f9f3c0d1e2b4a5c6d7e8f9a0b1c2d3e4f").Session; got != want {
			t.Errorf("Classify(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestErrorsNameTheLine(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "version: 1\nsevrity:\n  missing-secure: low\n", "p.yaml:2: unknown key \"sevrity\""},
		{"unknown rule in severity", "version: 1\nseverity:\n  missing-secur: low\n", "p.yaml:3: unknown rule ID \"missing-secur\""},
		{"unknown rule in disable", "version: 1\ndisable: [missing-secure,\n  nope]\n", "p.yaml:3: unknown rule ID \"nope\""},
		{"bad severity", "version: 1\nseverity:\n  missing-secure: severe\n", "p.yaml:3: bad severity \"severe\""},
		{"bad regexp", "version: 1\nsession:\n  patterns:\n    - 'ok'\n    - '(unclosed'\n", "p.yaml:5: bad pattern \"(unclosed\""},
		{"bad glob", "version: 1\nignore:\n  - cookie: '[x'\n    reason: r\n", "p.yaml:3: bad cookie pattern"},
		{"ignore without reason", "version: 1\nignore:\n  - cookie: _ga\n", "p.yaml:3: an ignore entry needs a reason"},
		{"ignore unknown key", "version: 1\nignore:\n  - cookie: _ga\n    reasn: x\n", "p.yaml:4: unknown key \"reasn\""},
		{"ignore unknown rule", "version: 1\nignore:\n  - rules: [missing-secure, bogus]\n    reason: x\n", "p.yaml:3: unknown rule ID \"bogus\""},
		{"bad duration", "version: 1\nlifetime_threshold: 1 day\n", "p.yaml:2: lifetime_threshold"},
		{"bad fail_on", "version: 1\nfail_on: sometimes\n", "p.yaml:2: fail_on"},
		{"bad non_session", "version: 1\nnon_session: hide\n", "p.yaml:2: non_session"},
		{"no version", "disable: [missing-secure]\n", "p.yaml:1: missing \"version: 1\""},
		{"future version", "version: 2\n", "p.yaml:1: unsupported policy version"},
		{"duplicate key", "version: 1\nfail_on: high\nfail_on: low\n", "p.yaml:3: key \"fail_on\" given twice"},
		{"not a mapping", "- a\n- b\n", "p.yaml:1: the policy must be a mapping"},
		{"yaml syntax", "version: 1\n  bad: [\n", "p.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tt.yaml))
			if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestFailOnNone(t *testing.T) {
	p, err := Parse("p.yaml", []byte("version: 1\nfail_on: none\nnon_session: off\n"))
	if err != nil || !p.FailOnNever || p.NonSession != "off" {
		t.Fatalf("policy %+v, err %v", p, err)
	}
}
