package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cookiewatch/cookiewatch/rules"
)

//go:embed html.tmpl
var htmlSource string

// htmlTmpl is parsed once; html/template escapes every value by context, so
// traffic-derived text (hosts, paths, cookie names, chain details) cannot
// add markup. Values also go through Safe, which shows control characters
// and bidirectional overrides as escapes.
var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"safe": func(s string) string { return Safe(s, 300) },
}).Parse(htmlSource))

// HTMLOptions configure the HTML report.
type HTMLOptions struct {
	Title  string     // page title; "cookiewatch report" when empty
	Lookup RuleLookup // finds rules for explanations; required
}

// HTML renders one self-contained page at Close: summary cards, findings by
// severity and by host as inline SVG charts, a timeline of exposures, the
// host table and every finding with its evidence, explanation and fix. The
// page loads nothing: no scripts, fonts or images from anywhere (its
// Content-Security-Policy forbids them), and it prints readably.
type HTML struct {
	w   io.Writer
	opt HTMLOptions
}

// NewHTML returns an HTML report writer to w.
func NewHTML(w io.Writer, opt HTMLOptions) *HTML {
	if opt.Title == "" {
		opt.Title = "cookiewatch report"
	}
	return &HTML{w: w, opt: opt}
}

// Write is a no-op: the page is rendered from the sorted findings at Close.
func (h *HTML) Write(*rules.Finding) error { return nil }

// Close renders the page. The page is one template execution over every
// finding, so they are all held at once (All).
func (h *HTML) Close(s Summary, fs Findings) error {
	v := buildHTMLView(h.opt, s, All(fs))
	if err := htmlTmpl.Execute(h.w, v); err != nil {
		return fmt.Errorf("report: html: %w", err)
	}
	return nil
}

// Chart geometry (SVG user units).
const (
	chartWidth  = 640
	chartLabel  = 170 // left column for labels
	chartBarH   = 22
	chartGap    = 8
	maxHostBars = 15
	maxTimeline = 60
)

type htmlView struct {
	Title, Files, Period string
	Cards                []htmlCard
	Summary              Summary
	SevChart             htmlChart
	HostChart            htmlChart
	Timeline             htmlTimeline
	Hosts                []htmlHost
	Groups               []htmlGroup
	Empty                bool
}

type htmlCard struct {
	Label, Value, Class string
}

type htmlChart struct {
	Height int
	Width  int
	Bars   []htmlBar
	Note   string
}

type htmlBar struct {
	Label      string
	Y, TextY   int
	Segments   []htmlSeg
	Total      int
	TotalX     float64
	LabelWidth int
}

type htmlSeg struct {
	X, W  float64
	Class string
	Title string
}

type htmlTimeline struct {
	Height, Width int
	X0, X1        int
	Ticks         []htmlTick
	Rows          []htmlTLRow
	Start         string
	Note          string
}

type htmlTick struct {
	X     float64
	Label string
}

type htmlTLRow struct {
	Label       string
	Y, TextY    int
	MY1, MY2    int // chain tick marks
	X1, X2      float64
	Class       string
	Marks       []htmlTick // chain links
	Title       string
	Anchor      string
	LineVisible bool
	Heading     bool // a host's heading row
}

type htmlHost struct {
	Host, TLS, Plaintext, HSTS, Cookies, First, Last string
	Findings                                         []htmlCard
}

type htmlGroup struct {
	Severity, Class string
	Findings        []htmlFinding
}

type htmlFinding struct {
	Anchor, Rule, Title, Severity, Class, Confidence string
	CWE                                              int
	Host, Cookie, Value, Subject, Direction          string
	Request, Time, LastTime, Frames, File            string
	Client, Server, Count, Session, Attrs            string
	Chain                                            []htmlLink
	X                                                Explanation
}

type htmlLink struct {
	Kind, Frame, Time, Detail string
}

var severityClass = map[rules.Severity]string{
	rules.Critical: "critical", rules.High: "high", rules.Medium: "medium", rules.Low: "low", rules.Info: "info",
}

func buildHTMLView(opt HTMLOptions, s Summary, fs []*rules.Finding) htmlView {
	v := htmlView{Title: opt.Title, Summary: s, Empty: len(fs) == 0}
	v.Files = strings.Join(s.Files, ", ")
	multi := len(s.Files) > 1
	t0, t1 := timeSpan(s, fs)
	if !t0.IsZero() {
		v.Period = t0.UTC().Format(TimeFormat) + " – " + t1.UTC().Format(TimeFormat)
	}
	v.Cards = []htmlCard{{"findings", strconv.Itoa(len(fs)), "total"}}
	for _, sev := range severityOrder {
		n := s.BySeverity[sev.String()]
		if n == 0 && sev == rules.Critical {
			continue
		}
		v.Cards = append(v.Cards, htmlCard{sev.String(), strconv.Itoa(n), severityClass[sev]})
	}
	v.Cards = append(v.Cards,
		htmlCard{"hosts", strconv.Itoa(len(s.Hosts)), "plain"},
		htmlCard{"session cookies exposed", strconv.Itoa(exposedCookies(s.Hosts)), "plain"},
		htmlCard{"requests", strconv.FormatUint(s.Requests, 10), "plain"},
		htmlCard{"packets", strconv.FormatUint(s.Packets, 10), "plain"})

	v.SevChart = severityChart(s)
	v.HostChart = hostChart(fs)
	v.Timeline = timeline(fs, t0, t1)
	for _, h := range s.Hosts {
		row := htmlHost{Host: h.Host, TLS: yesNo(h.TLS), Plaintext: yesNo(h.Plaintext), HSTS: yesNo(h.HSTS),
			Cookies: strconv.Itoa(h.SessionCookies), First: h.First.UTC().Format(TimeFormat), Last: h.Last.UTC().Format(TimeFormat)}
		if len(h.TLSVersions) > 0 {
			row.TLS += " (" + strings.Join(h.TLSVersions, ", ") + ")"
		}
		for _, sev := range severityOrder {
			if n := h.Findings[sev.String()]; n > 0 {
				row.Findings = append(row.Findings, htmlCard{sev.String(), strconv.Itoa(n), severityClass[sev]})
			}
		}
		v.Hosts = append(v.Hosts, row)
	}

	ex := NewExplainer(opt.Lookup, fs)
	for _, sev := range severityOrder {
		g := htmlGroup{Severity: sev.String(), Class: severityClass[sev]}
		for i, f := range fs {
			if f.Severity != sev {
				continue
			}
			g.Findings = append(g.Findings, htmlFindingOf(i, f, multi, ex))
		}
		if len(g.Findings) > 0 {
			v.Groups = append(v.Groups, g)
		}
	}
	return v
}

func exposedCookies(hs []Host) int {
	n := 0
	for _, h := range hs {
		n += h.SessionCookies
	}
	return n
}

// timeSpan is the capture time covered by the findings and hosts.
func timeSpan(s Summary, fs []*rules.Finding) (t0, t1 time.Time) {
	add := func(t time.Time) {
		if t.IsZero() {
			return
		}
		if t0.IsZero() || t.Before(t0) {
			t0 = t
		}
		if t.After(t1) {
			t1 = t
		}
	}
	for _, f := range fs {
		add(f.Time)
		add(f.LastTime)
		for _, l := range f.Chain {
			add(l.Time)
		}
	}
	for _, h := range s.Hosts {
		add(h.First)
		add(h.Last)
	}
	return t0, t1
}

func htmlFindingOf(i int, f *rules.Finding, multi bool, ex *Explainer) htmlFinding {
	h := htmlFinding{
		Anchor: "f" + strconv.Itoa(i+1), Rule: f.Rule, Title: f.Title, Severity: f.Severity.String(),
		Class: severityClass[f.Severity], Confidence: f.Confidence.String(), CWE: f.CWE,
		Host: f.Host, Cookie: f.Cookie, Value: f.Value.String(), Subject: f.Subject, Direction: f.Direction,
		Time: f.Time.UTC().Format(TimeFormat), Count: strconv.Itoa(f.Count), File: f.File,
		X: ex.Explain(f),
	}
	if f.Value == nil {
		h.Value = ""
	}
	if f.Scheme != "" {
		h.Cookie += " (" + f.Scheme + ")"
	}
	if f.Count > 1 && !f.LastTime.IsZero() && !f.LastTime.Equal(f.Time) {
		h.LastTime = f.LastTime.UTC().Format(TimeFormat)
	}
	h.Request = strings.TrimSpace(f.Method + " " + f.Path)
	if f.Direction == "response" && f.Status != 0 {
		h.Request += " → " + strconv.Itoa(f.Status)
	}
	h.Frames = strconv.FormatUint(f.Frame, 10)
	if multi {
		h.Frames = filepath.Base(f.File) + ":" + h.Frames
	}
	if len(f.Chain) > 1 {
		h.Frames = chainFrames(f.Chain, multi)
	}
	if f.Truncated {
		h.Frames += " (header cut)"
	}
	if f.Client.IsValid() {
		h.Client = f.Client.String()
	}
	if f.Server.IsValid() {
		h.Server = f.Server.String()
	}
	if f.Session.Reason != "" {
		kind := "not a session cookie"
		if f.Session.Session {
			kind = "session cookie"
		}
		h.Session = kind + " (" + f.Session.Confidence + "): " + f.Session.Reason
	}
	if a := f.Attrs; a != nil {
		var parts []string
		parts = append(parts, "Secure "+yesNo(a.Secure), "HttpOnly "+yesNo(a.HttpOnly))
		if a.SameSite != "" {
			parts = append(parts, "SameSite "+a.SameSite)
		} else {
			parts = append(parts, "SameSite absent")
		}
		if a.Domain != "" {
			parts = append(parts, "Domain "+a.Domain)
		}
		if a.Path != "" {
			parts = append(parts, "Path "+a.Path)
		}
		if a.MaxAge != nil {
			parts = append(parts, "Max-Age "+strconv.Itoa(*a.MaxAge))
		}
		if a.Expires != "" {
			parts = append(parts, "Expires "+a.Expires)
		}
		if a.Malformed != "" {
			parts = append(parts, "malformed: "+a.Malformed)
		}
		h.Attrs = strings.Join(parts, " · ")
	}
	for _, l := range f.Chain {
		fr := strconv.FormatUint(l.Frame, 10)
		if multi {
			fr = filepath.Base(l.File) + ":" + fr
		}
		h.Chain = append(h.Chain, htmlLink{Kind: l.Kind, Frame: fr, Time: l.Time.UTC().Format(TimeFormat), Detail: l.Detail})
	}
	return h
}

func severityChart(s Summary) htmlChart {
	c := htmlChart{Width: chartWidth}
	maxN := 0
	for _, sev := range severityOrder {
		maxN = max(maxN, s.BySeverity[sev.String()])
	}
	y := 0
	for _, sev := range severityOrder {
		n := s.BySeverity[sev.String()]
		if n == 0 && sev == rules.Critical {
			continue
		}
		b := htmlBar{Label: sev.String(), Y: y, TextY: y + chartBarH - 6, Total: n}
		w := barWidth(n, maxN)
		b.Segments = []htmlSeg{{X: chartLabel, W: w, Class: severityClass[sev], Title: fmt.Sprintf("%s: %d", sev, n)}}
		b.TotalX = chartLabel + w + 6
		c.Bars = append(c.Bars, b)
		y += chartBarH + chartGap
	}
	c.Height = max(y, chartBarH)
	return c
}

func barWidth(n, maxN int) float64 {
	if maxN == 0 || n == 0 {
		return 0
	}
	return float64(n) / float64(maxN) * float64(chartWidth-chartLabel-40)
}

// hostChart stacks each host's findings by severity, hosts with the most
// findings first.
func hostChart(fs []*rules.Finding) htmlChart {
	type hc struct {
		host  string
		bySev map[rules.Severity]int
		total int
	}
	idx := map[string]*hc{}
	var hosts []*hc
	for _, f := range fs {
		k := strings.ToLower(f.Host)
		h := idx[k]
		if h == nil {
			h = &hc{host: f.Host, bySev: map[rules.Severity]int{}}
			idx[k] = h
			hosts = append(hosts, h)
		}
		h.bySev[f.Severity]++
		h.total++
	}
	slices.SortStableFunc(hosts, func(a, b *hc) int { return b.total - a.total })
	c := htmlChart{Width: chartWidth}
	if len(hosts) > maxHostBars {
		c.Note = fmt.Sprintf("The %d hosts with the most findings of %d.", maxHostBars, len(hosts))
		hosts = hosts[:maxHostBars]
	}
	maxN := 0
	for _, h := range hosts {
		maxN = max(maxN, h.total)
	}
	y := 0
	for _, h := range hosts {
		label := Safe(h.host, 26)
		if h.host == "" {
			label = "(no host)"
		}
		b := htmlBar{Label: label, Y: y, TextY: y + chartBarH - 6, Total: h.total}
		x := float64(chartLabel)
		for _, sev := range severityOrder {
			n := h.bySev[sev]
			if n == 0 {
				continue
			}
			w := barWidth(n, maxN)
			b.Segments = append(b.Segments, htmlSeg{X: x, W: w, Class: severityClass[sev], Title: fmt.Sprintf("%s: %d %s", h.host, n, sev)})
			x += w
		}
		b.TotalX = x + 6
		c.Bars = append(c.Bars, b)
		y += chartBarH + chartGap
	}
	c.Height = max(y, chartBarH)
	return c
}

// timeline draws the findings above info, grouped by host (hosts in order
// of their first finding, a heading row each), at most maxTimeline rows: a
// dot at a finding's first occurrence, a line to its last, and a tick for
// every link of its chain.
func timeline(fs []*rules.Finding, t0, t1 time.Time) htmlTimeline {
	const left, right, rowH = 230, 640, 18
	tl := htmlTimeline{Width: 680, X0: left, X1: right}
	if len(fs) == 0 || t0.IsZero() {
		return tl
	}
	tl.Start = t0.UTC().Format(TimeFormat)
	span := t1.Sub(t0)
	x := func(t time.Time) float64 {
		if span <= 0 {
			return left
		}
		return left + float64(t.Sub(t0))/float64(span)*float64(right-left)
	}
	for i := 0; i <= 4; i++ {
		off := time.Duration(float64(span) * float64(i) / 4)
		tl.Ticks = append(tl.Ticks, htmlTick{X: left + float64(i)*float64(right-left)/4, Label: "+" + shortDuration(off)})
	}
	var hosts []string
	byHost := map[string][]int{}
	shown := 0
	for i, f := range fs {
		if f.Severity <= rules.Info {
			continue
		}
		k := strings.ToLower(f.Host)
		if _, ok := byHost[k]; !ok {
			hosts = append(hosts, k)
		}
		byHost[k] = append(byHost[k], i)
		shown++
	}
	y, rows := 28, 0
	for _, h := range hosts {
		if rows >= maxTimeline {
			break
		}
		idx := byHost[h]
		slices.SortStableFunc(idx, func(a, b int) int { return fs[a].Time.Compare(fs[b].Time) })
		label := fs[idx[0]].Host
		if label == "" {
			label = "(no host)"
		}
		tl.Rows = append(tl.Rows, htmlTLRow{Label: Safe(label, 40), Y: y, TextY: y + 4, Heading: true})
		y += rowH
		for _, i := range idx {
			if rows >= maxTimeline {
				break
			}
			f := fs[i]
			r := htmlTLRow{Label: Safe(f.Rule+" · "+f.Cookie, 34), Y: y, TextY: y + 4, MY1: y - 8, MY2: y + 8,
				Class: severityClass[f.Severity], X1: x(f.Time), X2: x(f.Time), Anchor: "f" + strconv.Itoa(i+1),
				Title: fmt.Sprintf("%s %s on %s: first %s", f.Severity, f.Rule, f.Host, f.Time.UTC().Format(TimeFormat))}
			if !f.LastTime.IsZero() && f.LastTime.After(f.Time) {
				r.X2 = x(f.LastTime)
				r.LineVisible = true
				r.Title += ", last " + f.LastTime.UTC().Format(TimeFormat)
			}
			for _, l := range f.Chain {
				r.Marks = append(r.Marks, htmlTick{X: x(l.Time), Label: l.Kind + " frame " + strconv.FormatUint(l.Frame, 10)})
			}
			tl.Rows = append(tl.Rows, r)
			rows++
			y += rowH
		}
	}
	if shown > rows {
		tl.Note = fmt.Sprintf("The first %d of %d findings above info.", rows, shown)
	}
	tl.Height = y + 4
	return tl
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	case d < time.Hour:
		return strconv.FormatFloat(d.Minutes(), 'f', 1, 64) + " min"
	}
	return strconv.FormatFloat(d.Hours(), 'f', 1, 64) + " h"
}
