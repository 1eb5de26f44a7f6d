package main

import (
	"github.com/cookiewatch/cookiewatch/correlate"
	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/report"
	"github.com/cookiewatch/cookiewatch/rules"
)

// TLSHello implements httpparse.TLSHandler: hellos go to the correlator.
func (p *pipeline) TLSHello(_ *httpparse.ConnInfo, t *httpparse.TLSInfo) {
	p.corr.TLSHello(p.file, t)
	p.addCorrelated(p.corr.Take())
}

// addCorrelated folds cross-connection findings (their file and frames come
// from their chain) into the aggregator.
func (p *pipeline) addCorrelated(fs []rules.Finding) {
	for _, f := range fs {
		p.occurrences++
		p.agg.Add(f)
	}
}

// hostRows converts the correlator's hosts into report rows with their
// findings counted by severity.
func hostRows(c *correlate.Correlator, fs []rules.Finding) []report.Host {
	var out []report.Host
	for _, h := range c.Hosts() {
		out = append(out, report.Host{Host: h.Host, TLS: h.TLS, Plaintext: h.Plaintext, HSTS: h.HSTS, Decrypted: h.Decrypted,
			TLSVersions: h.TLSVersions, ALPN: h.ALPN, SessionCookies: h.SessionCookies, First: h.First, Last: h.Last})
	}
	report.CountFindings(out, fs, correlate.HostKey)
	return out
}

func correlationSummary(c *correlate.Correlator) report.Correlation {
	st := c.Stats()
	return report.Correlation{Hosts: st.Hosts, Values: st.Values, Evictions: counters(st.Evictions)}
}
