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
