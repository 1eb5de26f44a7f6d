package main

import (
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cookiewatch/cookiewatch/correlate"
)

// TestCorpusTLSAgainstTshark compares the TLS hosts of the host report with
// tshark's dissection of every corpus capture: every server name tshark
// finds in a ClientHello must be a host seen over TLS. (The reverse is not
// checked: tshark decodes TLS only on ports it associates with TLS or by
// heuristics, cookiewatch on any port.)
func TestCorpusTLSAgainstTshark(t *testing.T) {
	dir := corpusDir(t)
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skipf("tshark not installed: %v", err)
	}
	pcaps, _ := filepath.Glob(filepath.Join(dir, "pcaps", "*"))
	compared := 0
	for _, p := range pcaps {
		out, err := exec.Command(tshark, "-n", "-r", p, "-Y", "tls.handshake.type == 1 && tls.handshake.extensions_server_name",
			"-T", "fields", "-e", "tls.handshake.extensions_server_name").Output()
		if err != nil {
			t.Fatalf("tshark on %s: %v", p, err)
		}
		want := map[string]bool{}
		for _, l := range strings.Fields(string(out)) {
			want[correlate.HostKey(l)] = true
		}
		_, _, summary := jsonRun(t, p)
		got := map[string]bool{}
		hosts, _ := summary["hosts"].([]any)
		for _, h := range hosts {
			m := h.(map[string]any)
			if m["tls"] == true {
				got[fmt.Sprint(m["host"])] = true
			}
		}
		for n := range want {
			compared++
			if !got[n] {
				t.Errorf("%s: tshark sees a ClientHello for %q, the host report does not (TLS hosts %v)", filepath.Base(p), n, slices.Sorted(maps.Keys(got)))
			}
		}
	}
	t.Logf("corpus: %d ClientHello server names compared with tshark", compared)
}
