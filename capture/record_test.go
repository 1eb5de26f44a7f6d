package capture

import (
	"bytes"
	"fmt"
	"sort"
	"testing"
)

// recorder is a Handler that keeps everything it is told.
type recorder struct {
	conns []*recConn
}

type recEvent struct {
	dir  Dir
	gap  int // Gap(n) when data == nil
	data []byte
}

type recConn struct {
	key        ConnKey
	events     []recEvent
	bytes      [2]bytes.Buffer
	spans      [2][]Span
	gaps       [2][]int
	closes     int
	afterClose int
}

func (r *recorder) Open(key ConnKey) Conn {
	c := &recConn{key: key}
	r.conns = append(r.conns, c)
	return c
}

func (c *recConn) Data(d Dir, data []byte, spans []Span) {
	if c.closes > 0 {
		c.afterClose++
	}
	c.bytes[d].Write(data)
	c.spans[d] = append(c.spans[d], spans...)
	c.events = append(c.events, recEvent{dir: d, data: append([]byte(nil), data...)})
	n := 0
	for _, s := range spans {
		n += s.Len
	}
	if n != len(data) {
		panic(fmt.Sprintf("spans cover %d bytes, data has %d", n, len(data)))
	}
}

func (c *recConn) Gap(d Dir, n int) {
	if c.closes > 0 {
		c.afterClose++
	}
	c.gaps[d] = append(c.gaps[d], n)
	c.events = append(c.events, recEvent{dir: d, gap: n})
}

func (c *recConn) Close() { c.closes++ }

// frameOf is the frame that carried byte i of direction d.
func (c *recConn) frameOf(d Dir, i int) uint64 {
	for _, s := range c.spans[d] {
		if i < s.Len {
			return s.Frame
		}
		i -= s.Len
	}
	return 0
}

func (r *recorder) check(t *testing.T) {
	t.Helper()
	for _, c := range r.conns {
		if c.closes != 1 {
			t.Errorf("conn %v closed %d times", c.key, c.closes)
		}
		if c.afterClose != 0 {
			t.Errorf("conn %v got %d calls after Close", c.key, c.afterClose)
		}
	}
}

func (r *recorder) keys() []string {
	var out []string
	for _, c := range r.conns {
		out = append(out, c.key.A.String()+">"+c.key.B.String())
	}
	sort.Strings(out)
	return out
}

// liveStreams returns a's live streams, least recently active first, after
// checking the activity list: each live stream once, where its lruPos
// says, in the table, and no more than about four times as many entries as
// streams can be live (lruTouch compacts it at four times the streams live
// then).
func liveStreams(a *Analyzer) []*stream {
	var out []*stream
	for i := a.lruFront; i < len(a.lru); i++ {
		s := a.lru[i]
		if s == nil {
			continue
		}
		if s.lruPos != i+1 || a.conns[s.key] != s || s.done {
			panic(fmt.Sprintf("activity list: stream %v at %d says %d, in the table: %v", s.key, i, s.lruPos-1, a.conns[s.key] == s))
		}
		out = append(out, s)
	}
	if len(out) != a.live || len(a.lru)-a.lruFront > 4*(a.cfg.MaxConns+1)+64 {
		panic(fmt.Sprintf("activity list: %d live streams, %d entries, %d live", len(out), len(a.lru)-a.lruFront, a.live))
	}
	return out
}
