package rules

// Reader returns another reader of x's findings, which decodes into a
// Finding and with a decoder of its own: readers of one Sorted may be used
// by different goroutines at once (decoding only reads the store). The
// table report has two goroutines render its rows (report.Table).
func (x *Sorted) Reader() *Sorted {
	if x == nil {
		return nil
	}
	return &Sorted{s: x.s, perm: x.perm}
}

// Omit names parts of a finding that a reader made by Sorted.Omitting
// does not decode.
type Omit uint8

const (
	OmitHead  Omit = 1 << iota // Title, CWE, Fingerprint, Confidence, Fix
	OmitAttrs                  // Attrs
	OmitLine                   // Line, LineIndex
	OmitAddrs                  // Client, Server
	OmitTimes                  // Time, LastTime, and each Link's Time
)

// Omitting returns another reader of x's findings (as Reader) that leaves
// out the parts omit names: their fields are zero in every finding At
// gives (and Filter's keep is given). Clone and Materialise, and the
// readers Reader and Filter return, decode whole findings. A
// report that shows few fields reads its findings faster so: the table,
// which shows none of these, decoded each finding in some 370 ns, most of
// it those parts (the 1 GB benchmark capture's 54,780 findings).
func (x *Sorted) Omitting(omit Omit) *Sorted {
	if x == nil {
		return nil
	}
	return &Sorted{s: x.s, perm: x.perm, dec: decoder{omit: omit}}
}
