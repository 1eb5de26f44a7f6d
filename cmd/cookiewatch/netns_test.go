package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// vethPair is two network namespaces of the test's own joined by a veth
// pair: the server side (address SrvAddr on SrvIf) and the client side, where
// cookiewatch captures on CliIf. Nothing is routed anywhere else.
type vethPair struct {
	SrvNS, CliNS     string
	SrvIf, CliIf     string
	SrvAddr, CliAddr string
	srv, cli         *os.File // /run/netns handles for setns
}

var pairSeq atomic.Int32

// newVethPair creates the namespaces and the veth pair; t.Cleanup deletes
// them (which deletes the veth too) also when the test fails. Without the
// privilege to do so the test is skipped, or fails under CI=true.
func newVethPair(t *testing.T) *vethPair {
	t.Helper()
	n := pairSeq.Add(1)
	id := fmt.Sprintf("%d-%d", os.Getpid()%100000, n)
	p := &vethPair{
		SrvNS: "cw5s-" + id, CliNS: "cw5c-" + id,
		SrvIf: "cw5s" + fmt.Sprint(n), CliIf: "cw5c" + fmt.Sprint(n),
		SrvAddr: fmt.Sprintf("10.250.%d.1", n%250), CliAddr: fmt.Sprintf("10.250.%d.2", n%250),
	}
	if out, err := exec.Command("ip", "netns", "add", p.SrvNS).CombinedOutput(); err != nil {
		needPrivilege(t, fmt.Errorf("ip netns add: %v: %s", err, out))
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", p.SrvNS).Run() })
	ipCmd(t, "netns", "add", p.CliNS)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", p.CliNS).Run() })
	ipCmd(t, "link", "add", p.SrvIf, "netns", p.SrvNS, "type", "veth", "peer", "name", p.CliIf, "netns", p.CliNS)
	for _, side := range []struct{ ns, dev, addr string }{{p.SrvNS, p.SrvIf, p.SrvAddr}, {p.CliNS, p.CliIf, p.CliAddr}} {
		ipCmd(t, "-n", side.ns, "addr", "add", side.addr+"/30", "dev", side.dev)
		ipCmd(t, "-n", side.ns, "link", "set", side.dev, "up")
		ipCmd(t, "-n", side.ns, "link", "set", "lo", "up")
	}
	var err error
	if p.srv, err = os.Open(filepath.Join("/run/netns", p.SrvNS)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.srv.Close() })
	if p.cli, err = os.Open(filepath.Join("/run/netns", p.CliNS)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cli.Close() })
	return p
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// inNS runs f on a thread switched into namespace ns. Sockets keep the
// namespace they were created in, so a listener or connection made by f can
// be used from any goroutine afterwards.
func inNS(ns *os.File, f func() error) error {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer self.Close()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns: %w", err)
	}
	ferr := f()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it dies with this goroutine instead of
		// serving others in the wrong namespace.
		return fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Listen listens on the server side. Accepted connections send no TCP
// keep-alive probes (Go's default would send one every 15 s).
func (p *vethPair) Listen(t *testing.T, port int) net.Listener {
	t.Helper()
	var ln net.Listener
	err := inNS(p.srv, func() (err error) {
		// No TCP keep-alive probes: a connection left idle must stay silent.
		lc := net.ListenConfig{KeepAlive: -1}
		ln, err = lc.Listen(context.Background(), "tcp4", fmt.Sprintf("%s:%d", p.SrvAddr, port))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// Dial connects from the client side; only the server's address is allowed.
func (p *vethPair) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != p.SrvAddr {
		return nil, fmt.Errorf("test dialer: refusing %q: only %s is reachable", addr, p.SrvAddr)
	}
	var c net.Conn
	err = inNS(p.cli, func() (err error) {
		d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: -1}
		c, err = d.DialContext(ctx, "tcp4", addr)
		return err
	})
	return c, err
}

// buildCLI builds cookiewatch into a directory anyone may read and run, so
// tests can run it as another user too.
func buildCLI(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cookiewatch-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "cookiewatch")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// liveProc is cookiewatch running in the client namespace, its output
// collected line by line as it comes.
type liveProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout []string
	stderr []string
	done   chan struct{} // closed when both pipes reached EOF
	waited chan struct{} // closed when the process was waited for; then err is set
	err    error
}

// startLive runs bin with args in namespace ns and waits until it says it
// is listening.
func startLive(t *testing.T, ns, bin string, args ...string) *liveProc {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lp := &liveProc{cmd: cmd, done: make(chan struct{}), waited: make(chan struct{})}
	t.Cleanup(func() {
		select {
		case <-lp.waited:
		default:
			cmd.Process.Kill()
			<-lp.waited
		}
	})
	var wg sync.WaitGroup
	collect := func(r *bufio.Scanner, into *[]string) {
		defer wg.Done()
		r.Buffer(nil, 1<<20)
		for r.Scan() {
			lp.mu.Lock()
			*into = append(*into, r.Text())
			lp.mu.Unlock()
		}
	}
	wg.Add(2)
	go collect(bufio.NewScanner(outPipe), &lp.stdout)
	go collect(bufio.NewScanner(errPipe), &lp.stderr)
	go func() {
		wg.Wait()
		close(lp.done)
		lp.err = cmd.Wait()
		close(lp.waited)
	}()
	if !lp.waitFor(10*time.Second, func(_, stderr []string) bool { return containsLine(stderr, "listening on") }) {
		_, stderr := lp.lines()
		t.Fatalf("cookiewatch did not start listening; stderr:\n%s", strings.Join(stderr, "\n"))
	}
	return lp
}

func containsLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func (lp *liveProc) lines() (stdout, stderr []string) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return append([]string(nil), lp.stdout...), append([]string(nil), lp.stderr...)
}

// waitFor polls the output until cond holds or the time is up.
func (lp *liveProc) waitFor(d time.Duration, cond func(stdout, stderr []string) bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond(lp.lines()) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-lp.done:
			return cond(lp.lines())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends sig and waits (bounded) for the process to exit; it returns
// the exit code.
func (lp *liveProc) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	if err := lp.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal: %v", err)
	}
	return lp.wait(t, 15*time.Second)
}

// wait waits (bounded) for the process to exit by itself; it returns the
// exit code.
func (lp *liveProc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-lp.waited:
		err := lp.err
		if err == nil {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		t.Fatalf("wait: %v", err)
	case <-time.After(d):
		lp.cmd.Process.Kill()
		_, stderr := lp.lines()
		t.Fatalf("cookiewatch did not exit within %v; stderr:\n%s", d, strings.Join(stderr, "\n"))
	}
	return -1
}
