// Package policy reads cookiewatch policy files (YAML, docs/policy.example.yaml)
// into rules.Options and a failure threshold. Every mistake — an unknown key,
// an unknown rule ID, a bad pattern, a missing reason — is an error naming
// the file and line, never a silent default.
package policy

import (
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cookiewatch/cookiewatch/rules"
)

// ErrPolicy is wrapped by every error about a policy file's content.
var ErrPolicy = errors.New("policy")

// Policy is a parsed policy file.
type Policy struct {
	Session     rules.Classifier // names and patterns (All is not set here)
	NonSession  string           // "info" (default) or "off"
	Ignore      []rules.Ignore
	Severity    map[string]rules.Severity
	Disabled    map[string]bool
	Lifetime    time.Duration  // 0: the default
	FailOn      rules.Severity // SeverityInvalid with FailOnSet means "none"
	FailOnSet   bool
	FailOnNever bool
}

// Apply copies the policy into opt.
func (p *Policy) Apply(opt *rules.Options) {
	all := opt.Classifier.All
	opt.Classifier = p.Session
	opt.Classifier.All = all
	opt.NonSessionOff = p.NonSession == "off"
	opt.Ignore = p.Ignore
	opt.Severity = p.Severity
	opt.Disabled = p.Disabled
	opt.LifetimeThreshold = p.Lifetime
}

// Load reads and checks a policy file.
func Load(file string) (*Policy, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	return Parse(file, data)
}

type parser struct{ file string }

func (p parser) errf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%w: %s:%d: %s", ErrPolicy, p.file, n.Line, fmt.Sprintf(format, args...))
}

// Parse checks a policy file's content; file names it in errors.
func Parse(file string, data []byte) (*Policy, error) {
	p := parser{file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrPolicy, file, err)
	}
	pol := &Policy{Severity: map[string]rules.Severity{}, Disabled: map[string]bool{}, NonSession: "info"}
	if len(doc.Content) == 0 {
		return pol, nil // an empty file is the default policy
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, p.errf(root, "the policy must be a mapping of keys (version, session, ignore, …)")
	}
	version := false
	err := p.mapping(root, func(key string, k, v *yaml.Node) error {
		switch key {
		case "version":
			if v.Value != "1" {
				return p.errf(v, "unsupported policy version %q (this cookiewatch reads version 1)", v.Value)
			}
			version = true
		case "session":
			return p.names(v, &pol.Session.Names, &pol.Session.Patterns)
		case "not_session":
			return p.names(v, &pol.Session.NotNames, &pol.Session.NotPatterns)
		case "non_session":
			if v.Value != "info" && v.Value != "off" {
				return p.errf(v, "non_session must be info or off, not %q", v.Value)
			}
			pol.NonSession = v.Value
		case "ignore":
			return p.ignores(v, pol)
		case "severity":
			return p.mapping(v, func(id string, k, sv *yaml.Node) error {
				if _, ok := rules.ByID(id); !ok {
					return p.errf(k, "unknown rule ID %q (see cookiewatch rules)", id)
				}
				s, err := rules.ParseSeverity(sv.Value)
				if err != nil || sv.Kind != yaml.ScalarNode {
					return p.errf(sv, "bad severity %q for %s (want info, low, medium, high or critical)", sv.Value, id)
				}
				pol.Severity[id] = s
				return nil
			})
		case "disable":
			ids, err := p.ruleIDs(v)
			for _, id := range ids {
				pol.Disabled[id] = true
			}
			return err
		case "lifetime_threshold":
			d, err := time.ParseDuration(v.Value)
			if err != nil || d <= 0 || v.Kind != yaml.ScalarNode {
				return p.errf(v, "lifetime_threshold must be a positive duration such as 24h or 90m, not %q", v.Value)
			}
			pol.Lifetime = d
		case "fail_on":
			pol.FailOnSet = true
			if v.Value == "none" {
				pol.FailOnNever = true
				return nil
			}
			s, err := rules.ParseSeverity(v.Value)
			if err != nil {
				return p.errf(v, "fail_on must be none, info, low, medium, high or critical, not %q", v.Value)
			}
			pol.FailOn = s
		default:
			return p.errf(k, "unknown key %q (known: version, session, not_session, non_session, ignore, severity, disable, lifetime_threshold, fail_on)", key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !version {
		return nil, p.errf(root, "missing \"version: 1\"")
	}
	return pol, nil
}

// mapping calls f for each key of a mapping node, rejecting duplicates.
func (p parser) mapping(n *yaml.Node, f func(key string, k, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "expected a mapping")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return p.errf(k, "key %q given twice", k.Value)
		}
		seen[k.Value] = true
		if err := f(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (p parser) strings(n *yaml.Node) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "expected a list")
	}
	var out []string
	for _, e := range n.Content {
		if e.Kind != yaml.ScalarNode || e.Value == "" {
			return nil, p.errf(e, "expected a non-empty string")
		}
		out = append(out, e.Value)
	}
	return out, nil
}

func (p parser) names(n *yaml.Node, names *[]string, patterns *[]*regexp.Regexp) error {
	return p.mapping(n, func(key string, k, v *yaml.Node) error {
		switch key {
		case "names":
			s, err := p.strings(v)
			*names = append(*names, s...)
			return err
		case "patterns":
			if v.Kind != yaml.SequenceNode {
				return p.errf(v, "patterns must be a list of regular expressions")
			}
			for _, e := range v.Content {
				re, err := regexp.Compile("(?i)" + e.Value)
				if err != nil || e.Value == "" {
					return p.errf(e, "bad pattern %q: %v", e.Value, err)
				}
				*patterns = append(*patterns, re)
			}
		default:
			return p.errf(k, "unknown key %q (known: names, patterns)", key)
		}
		return nil
	})
}

func (p parser) ruleIDs(n *yaml.Node) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "expected a list of rule IDs")
	}
	var out []string
	for _, e := range n.Content {
		if _, ok := rules.ByID(e.Value); !ok {
			return nil, p.errf(e, "unknown rule ID %q (see cookiewatch rules)", e.Value)
		}
		out = append(out, e.Value)
	}
	return out, nil
}

func (p parser) ignores(n *yaml.Node, pol *Policy) error {
	if n.Kind != yaml.SequenceNode {
		return p.errf(n, "ignore must be a list of entries")
	}
	for _, e := range n.Content {
		var ig rules.Ignore
		err := p.mapping(e, func(key string, k, v *yaml.Node) error {
			switch key {
			case "cookie", "host":
				if v.Kind != yaml.ScalarNode || v.Value == "" {
					return p.errf(v, "%s must be a name or a pattern such as *.example.com", key)
				}
				if _, err := path.Match(v.Value, ""); err != nil {
					return p.errf(v, "bad %s pattern %q: %v", key, v.Value, err)
				}
				if key == "cookie" {
					ig.Cookie = v.Value
				} else {
					ig.Host = v.Value
				}
			case "rules":
				ids, err := p.ruleIDs(v)
				ig.Rules = ids
				return err
			case "reason":
				ig.Reason = strings.TrimSpace(v.Value)
			default:
				return p.errf(k, "unknown key %q in an ignore entry (known: cookie, host, rules, reason)", key)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if ig.Reason == "" {
			return p.errf(e, "an ignore entry needs a reason")
		}
		if ig.Cookie == "" && ig.Host == "" && len(ig.Rules) == 0 {
			return p.errf(e, "an ignore entry must name a cookie, a host or rules")
		}
		pol.Ignore = append(pol.Ignore, ig)
	}
	return nil
}
