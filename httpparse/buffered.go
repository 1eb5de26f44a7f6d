package httpparse

// Buffered is how many bytes c holds now: partial start lines, header blocks
// and TLS hellos of both sides (each bounded by its Limits). Live captures
// report the sum over open connections.
func (c *Conn) Buffered() int {
	return len(c.side[0].buf) + len(c.side[1].buf)
}
