package capturetest

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Parse reads a transcript (see the package comment) and returns the
// capture it describes. Errors name the line.
func Parse(r io.Reader) (*Capture, error) {
	p := &parser{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		p.line++
		if err := p.do(sc.Text()); err != nil {
			return nil, fmt.Errorf("capturetest: line %d: %w", p.line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("capturetest: %w", err)
	}
	p.flush()
	if p.c == nil {
		return nil, fmt.Errorf("capturetest: no conn line")
	}
	return p.c, nil
}

type parser struct {
	line    int
	c       *Capture
	cn      *Conn
	buf     []byte
	dir     int // 0 none, 1 client, 2 server
	opts    SendOptions
	pending bool
}

func (p *parser) flush() {
	if p.dir == 0 {
		return
	}
	p.cn.SendWith(p.dir == 1, p.buf, p.opts)
	p.buf, p.dir, p.opts = nil, 0, SendOptions{}
}

func (p *parser) do(line string) error {
	trimmed := strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(line, ">>"), strings.HasPrefix(line, "<<"):
		text, err := unescape(strings.TrimPrefix(line[2:], " "))
		if err != nil {
			return err
		}
		return p.data(line[0] == '>', []byte(text))
	case strings.HasPrefix(line, ">"), strings.HasPrefix(line, "<"):
		return p.data(line[0] == '>', []byte(strings.TrimPrefix(line[1:], " ")+"\r\n"))
	case trimmed == "":
		p.flush()
		return nil
	case strings.HasPrefix(trimmed, "#"):
		return nil
	}
	p.flush()
	f := strings.Fields(trimmed)
	if f[0] == "conn" {
		return p.conn(f[1:])
	}
	if p.cn == nil {
		return fmt.Errorf("%q before any conn line", f[0])
	}
	num := func(def int) (int, error) {
		if len(f) < 2 {
			return def, nil
		}
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%s: bad segment number %q", f[0], f[1])
		}
		return n, nil
	}
	switch f[0] {
	case "lose", "reorder", "retransmit":
		def := 1
		if f[0] == "lose" && len(f) < 2 {
			return fmt.Errorf("lose needs a segment number")
		}
		n, err := num(def)
		if err != nil {
			return err
		}
		switch f[0] {
		case "lose":
			p.opts.Lose = append(p.opts.Lose, n)
		case "reorder":
			p.opts.Swap = append(p.opts.Swap, n)
		default:
			p.opts.Retransmit = append(p.opts.Retransmit, n)
		}
	case "overlap":
		if len(f) < 3 {
			return fmt.Errorf("overlap needs N and TEXT")
		}
		n, err := num(1)
		if err != nil {
			return err
		}
		rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(trimmed, "overlap")), f[1]))
		text, err := unescape(rest)
		if err != nil {
			return err
		}
		if p.opts.Overlap == nil {
			p.opts.Overlap = map[int][]byte{}
		}
		p.opts.Overlap[n] = []byte(text)
	case "fin":
		switch {
		case len(f) < 2:
			p.cn.FIN(true)
			p.cn.FIN(false)
			p.cn.Ack(true)
		case f[1] == ">":
			p.cn.FIN(true)
		case f[1] == "<":
			p.cn.FIN(false)
		default:
			return fmt.Errorf("fin: want > or <, got %q", f[1])
		}
	case "rst":
		p.cn.RST(len(f) < 2 || f[1] == ">")
	case "wait":
		if len(f) < 2 {
			return fmt.Errorf("wait needs a duration")
		}
		d, err := time.ParseDuration(f[1])
		if err != nil {
			return err
		}
		p.c.Now = p.c.Now.Add(d)
	default:
		return fmt.Errorf("unknown command %q", f[0])
	}
	return nil
}

func (p *parser) data(client bool, b []byte) error {
	if p.cn == nil {
		return fmt.Errorf("data before any conn line")
	}
	d := 2
	if client {
		d = 1
	}
	if p.dir != 0 && p.dir != d {
		p.flush()
	}
	p.dir = d
	p.buf = append(p.buf, b...)
	return nil
}

func unescape(s string) (string, error) {
	u, err := strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`)
	if err != nil {
		return "", fmt.Errorf("bad escapes in %q", s)
	}
	return u, nil
}

func (p *parser) conn(args []string) error {
	var client, server netip.AddrPort
	link := Ethernet
	linkSet := false
	opt := ConnOptions{}
	vlan := [2]uint16{100, 200}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		var err error
		switch k {
		case "client":
			client, err = netip.ParseAddrPort(v)
		case "server":
			server, err = netip.ParseAddrPort(v)
		case "mss":
			opt.MSS, err = strconv.Atoi(v)
		case "nosyn":
			opt.NoHandshake = true
		case "vlan", "vlan2":
			var n int
			n, err = strconv.Atoi(v)
			if k == "vlan" {
				vlan[0] = uint16(n)
				if !linkSet {
					link = VLAN
				}
			} else {
				vlan[1] = uint16(n)
				link, linkSet = QinQ, true
			}
		case "link":
			linkSet = true
			switch v {
			case "ether", "ethernet":
				link = Ethernet
			case "vlan":
				link = VLAN
			case "qinq":
				link = QinQ
			case "sll":
				link = SLL
			case "null":
				link = Null
			case "raw":
				link = Raw
			default:
				err = fmt.Errorf("unknown link %q", v)
			}
		default:
			err = fmt.Errorf("unknown conn option %q", a)
		}
		if err != nil {
			return fmt.Errorf("conn: %w", err)
		}
	}
	if !client.IsValid() || !server.IsValid() {
		return fmt.Errorf("conn needs client= and server=")
	}
	if client.Addr().Is4() != server.Addr().Is4() {
		return fmt.Errorf("conn: client and server differ in IP version")
	}
	if p.c == nil {
		p.c = New(link, Start)
		p.c.VLAN = vlan
	}
	p.cn = p.c.Conn(client, server, opt)
	return nil
}
