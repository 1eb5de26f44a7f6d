package demoapp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Server is the vulnerable app listening on a loopback address.
type Server struct {
	Addr netip.AddrPort
	srv  *http.Server
	done chan error
	once sync.Once
	err  error
}

// Listen starts the app on addr (port 0 picks one). Only loopback
// addresses are accepted.
func Listen(addr netip.AddrPort) (*Server, error) {
	if !addr.Addr().IsLoopback() {
		return nil, fmt.Errorf("demoapp: %s is not a loopback address; the vulnerable app listens on loopback only", addr.Addr())
	}
	ln, err := net.Listen("tcp4", addr.String())
	if err != nil {
		return nil, fmt.Errorf("demoapp: %w", err)
	}
	s := &Server{
		Addr: ln.Addr().(*net.TCPAddr).AddrPort(),
		srv:  &http.Server{Handler: NewApp(), ReadHeaderTimeout: 5 * time.Second},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the app and waits for it. Later calls return the first's result.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.err = s.srv.Close()
		if e := <-s.done; !errors.Is(e, http.ErrServerClosed) && s.err == nil {
			s.err = e
		}
	})
	return s.err
}

// Play is the story the demo tells, against the app at Server.
type Play struct {
	Server   netip.AddrPort
	Victim   netip.Addr
	Attacker netip.Addr // the zero Addr: no attacker
	Rounds   int        // victim logins; 0 means until the context ends
	Pause    time.Duration
	// Say, if set, narrates each step (who, and what they did).
	Say func(who netip.Addr, what string)
}

// Run plays the rounds: each round the victim logs in (a new session),
// reads the account page, the attacker (if any) replays the victim's cookie
// from its own address, and the victim reads the account page again. Pause
// separates the steps. It returns nil when the rounds are done or the
// context ends between steps.
func (p Play) Run(ctx context.Context) error {
	say := p.Say
	if say == nil {
		say = func(netip.Addr, string) {}
	}
	wait := func() bool {
		t := time.NewTimer(p.Pause)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for round := 1; p.Rounds == 0 || round <= p.Rounds; round++ {
		v := NewVictim(p.Victim, p.Server)
		say(p.Victim, fmt.Sprintf("victim logs in to http://%s/ as alice (round %d) and gets a session cookie", Host, round))
		if err := v.Login(ctx, "alice", "correct horse battery staple"); err != nil {
			return stopped(ctx, err)
		}
		if !wait() {
			return nil
		}
		say(p.Victim, "victim opens /account, sending the cookie again")
		if err := v.Account(ctx); err != nil {
			return stopped(ctx, err)
		}
		if p.Attacker.IsValid() {
			if !wait() {
				return nil
			}
			say(p.Attacker, "attacker replays the cookie copied off the wire")
			ok, err := NewAttacker(p.Attacker, p.Server).Replay(ctx, v.Cookie())
			if err != nil {
				return stopped(ctx, err)
			}
			if ok {
				say(p.Attacker, "attacker is in alice's account")
			} else {
				say(p.Attacker, "attacker is turned away")
			}
		}
		if !wait() {
			return nil
		}
		say(p.Victim, "victim opens /account again")
		if err := v.Account(ctx); err != nil {
			return stopped(ctx, err)
		}
		if p.Rounds == 0 || round < p.Rounds {
			if !wait() {
				return nil
			}
		}
	}
	return nil
}

// stopped turns an error caused by the context ending into nil.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
