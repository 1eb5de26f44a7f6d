package report

import (
	"io"
	"sync"
)

// partFindings is the most findings in a part that writeParts renders at
// once: some 200 KB of JSON Lines.
const partFindings = 128

// writeParts writes to w the text render appends for each finding of fs,
// in order. render is made by newRender once per goroutine that renders
// (it may keep state of its own: reused buffers, cached times). From
// parallelFrom findings, when fs can be read by two goroutines at once
// (concurrentReader), a second goroutine renders every other part of
// partFindings findings while this one renders the others and writes
// them all in order, as the table's rows are (writeTables): reading and
// rendering the findings is most of what a report costs, and the end of
// a run has the second core to itself. At most tableBuffers parts wait.
//
// A write's error is returned as wrap gives it.
func writeParts(w io.Writer, fs Findings, wrap func(error) error, newRender func() func(b []byte, f Findings, i int) ([]byte, error)) error {
	n := fs.Len()
	write := func(b []byte) error {
		if len(b) == 0 {
			return nil
		}
		if _, err := w.Write(b); err != nil {
			return wrap(err)
		}
		return nil
	}
	renderPart := func(render func([]byte, Findings, int) ([]byte, error), rd Findings, part int, b []byte) ([]byte, error) {
		for i := part * partFindings; i < min(n, (part+1)*partFindings); i++ {
			var err error
			if b, err = render(b, rd, i); err != nil {
				return b, err
			}
		}
		return b, nil
	}
	parts := (n + partFindings - 1) / partFindings
	other := concurrentReader(fs)
	render := newRender()
	if other == nil || n < parallelFrom || parts < 2 {
		out := make([]byte, 0, 256<<10)
		for p := range parts {
			var err error
			if out, err = renderPart(render, fs, p, out[:0]); err != nil {
				return err
			}
			if err := write(out); err != nil {
				return err
			}
		}
		return nil
	}
	theirs := newRender() // used by the second goroutine only
	return renderInTurn(parts, 256<<10,
		func(p int, b []byte) ([]byte, error) { return renderPart(render, fs, p, b) },
		func(p int, b []byte) ([]byte, error) { return renderPart(theirs, other, p, b) },
		write)
}

// renderInTurn renders parts 0 to n-1 and writes each, in order, with
// write: this goroutine renders the even parts with mine, a second
// goroutine the odd ones with theirs (each with state of its own), into
// buffers of bufSize that are reused; at most tableBuffers rendered parts
// wait. The first error, of a render or a write, is returned, and the
// second goroutine has stopped when it returns.
func renderInTurn(n, bufSize int, mine, theirs func(part int, b []byte) ([]byte, error), write func([]byte) error) error {
	type done struct {
		b   []byte
		err error
	}
	ready := make(chan done, tableBuffers)
	free := make(chan []byte, tableBuffers+1)
	for range tableBuffers + 1 {
		free <- make([]byte, 0, bufSize)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // the odd parts
		for p := 1; p < n; p += 2 {
			var b []byte
			select {
			case b = <-free:
			case <-stop:
				return
			}
			b, err := theirs(p, b[:0])
			select {
			case ready <- done{b, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	})
	defer wg.Wait()
	defer close(stop)
	out := make([]byte, 0, bufSize)
	for p := range n {
		if p%2 == 0 {
			var err error
			if out, err = mine(p, out[:0]); err != nil {
				return err
			}
			if err := write(out); err != nil {
				return err
			}
			continue
		}
		d := <-ready
		if d.err != nil {
			return d.err
		}
		if err := write(d.b); err != nil {
			return err
		}
		free <- d.b
	}
	return nil
}
