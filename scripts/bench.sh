#!/usr/bin/env bash
# bench.sh — the benchmark of issue 6 (make bench). On one generated capture
# it times cookiewatch, tshark extracting the same headers, and the decode
# floor (cwfloor: read + DecodingLayerParser Ethernet/IP/TCP) with three packet
# readers (file: cookiewatch's own reader, which maps classic pcap files into
# memory; pcapgo; libpcap), and prints wall, CPU, MB/s, packets/s and peak RSS for each, the
# ratios, the recall against the generator's ground truth and whether the
# findings of 1 and 2 workers are identical.
#
# Environment: BENCH_DATA (default /work/bench-data), SIZE (1G), SEED (1),
# REPEAT (3 timed runs per fast tool; the median is shown), TSHARK (1; 0
# skips it), FAULTS (1: also a 200M fault-injected capture for its recall),
# WORKERS (cookiewatch's -workers for the timed run; default: its default),
# FLAT (1: also peak RSS on a 100M and a 2G capture, the 2G one deleted after).
# DROP_CACHES (1: as root, drop the page cache before reading the capture into
# it again, so every run starts from the same page-cache layout: on this
# kernel a freshly read file sits in 2 MiB folios, one read back piece by piece
# after eviction often does not, and the kernel's share of mapping and
# releasing the file (cookiewatch and the floors alike) then differs by ~0.1 s
# of CPU per run).
# MB is 10^6 bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${BENCH_DATA:-/work/bench-data}
SIZE=${SIZE:-1G}
SEED=${SEED:-1}
REPEAT=${REPEAT:-3}
TSHARK=${TSHARK:-1}
FAULTS=${FAULTS:-1}
BIN=$DATA/bin
mkdir -p "$DATA" "$BIN"
go build -o "$BIN/cookiewatch" ./cmd/cookiewatch
go build -o "$BIN/cwgen" ./tools/cwgen
go build -o "$BIN/cwfloor" ./tools/cwfloor
go build -o "$BIN/cwrecall" ./tools/cwrecall

F=$DATA/bench-$SIZE-seed$SEED.pcap
if [ ! -s "$F" ] || [ ! -s "$F.truth" ]; then
	"$BIN/cwgen" -o "$F" -size "$SIZE" -seed "$SEED"
fi
BYTES=$(stat -c %s "$F")
if [ "${DROP_CACHES:-0}" = 1 ] && [ "$(id -u)" = 0 ]; then
	sync
	echo 1 >/proc/sys/vm/drop_caches
fi
cat "$F" >/dev/null # page cache
PACKETS=$("$BIN/cwfloor" -reader pcapgo "$F" | awk '{print $4}')

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/{print $2}') GB RAM, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "capture: $F ($BYTES bytes, $PACKETS packets)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# measure NAME CMD...: one run under /usr/bin/time; appends "name wall user sys rss_kb" to $TMP/runs.
measure() {
	local name=$1
	shift
	/usr/bin/time -f "%e %U %S %M" -o "$TMP/time" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || {
		echo "$name failed:" >&2
		cat "$TMP/$name.err" >&2
		return 1
	}
	echo "$name $(cat "$TMP/time")" >>"$TMP/runs"
	echo "  $name: $(cat "$TMP/time") (wall s, user s, sys s, maxrss KiB)"
}

CW_ARGS=(--fail-on none) # exit 1 on findings would read as a failed run
if [ -n "${WORKERS:-}" ]; then CW_ARGS+=(-workers "$WORKERS"); fi
echo "runs (repeat $REPEAT, interleaved):"
for i in $(seq "$REPEAT"); do
	measure cookiewatch "$BIN/cookiewatch" -r "$F" "${CW_ARGS[@]}"
	measure floor-file "$BIN/cwfloor" -reader file "$F"
	measure floor-pcapgo "$BIN/cwfloor" -reader pcapgo "$F"
	measure floor-libpcap "$BIN/cwfloor" -reader libpcap "$F"
done
if [ "$TSHARK" = 1 ]; then
	measure tshark tshark -r "$F" -Y 'http.set_cookie || http.cookie' -T fields -e frame.number -e http.set_cookie -e http.cookie
fi

echo
awk -v bytes="$BYTES" -v packets="$PACKETS" '
	{ n[$1]++; w[$1, n[$1]] = $2; c[$1, n[$1]] = $3 + $4; r[$1, n[$1]] = $5 }
	function median(arr, name, k,   i, j, t, v) {
		for (i = 1; i <= k; i++) v[i] = arr[name, i]
		for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		return v[int((k + 1) / 2)]
	}
	END {
		printf "%-14s %9s %9s %9s %12s %10s %5s\n", "tool", "wall s", "CPU s", "MB/s", "packets/s", "RSS MiB", "runs"
		split("cookiewatch floor-file floor-pcapgo floor-libpcap tshark", order, " ")
		for (o = 1; o <= 5; o++) {
			t = order[o]; if (!(t in n)) continue
			wm = median(w, t, n[t]); cm = median(c, t, n[t]); rm = median(r, t, n[t])
			W[t] = wm
			printf "%-14s %9.2f %9.2f %9.1f %12.0f %10.1f %5d\n", t, wm, cm, bytes / wm / 1e6, packets / wm, rm / 1024, n[t]
		}
		print ""
		if ("tshark" in W) printf "cookiewatch/tshark throughput:         %.1fx (target >= 50x)\n", W["tshark"] / W["cookiewatch"]
		printf "cookiewatch/floor (file: its reader):   %.0f%% (target >= 60%%)\n", 100 * W["floor-file"] / W["cookiewatch"]
		printf "cookiewatch/floor (pcapgo):             %.0f%%\n", 100 * W["floor-pcapgo"] / W["cookiewatch"]
		printf "cookiewatch/floor (libpcap):            %.0f%%\n", 100 * W["floor-libpcap"] / W["cookiewatch"]
	}' "$TMP/runs"
if [ "$TSHARK" = 1 ]; then
	echo "tshark printed $(wc -l <"$TMP/tshark.out") lines for $(wc -l <"$F.truth") ground-truth headers"
fi

echo
echo "recall (cookiewatch --each --all-cookies --show-values --format json --fail-on none | cwrecall):"
"$BIN/cookiewatch" -r "$F" --each --all-cookies --show-values --format json --fail-on none | "$BIN/cwrecall" -truth "$F.truth" || true
if "$BIN/cookiewatch" -h 2>&1 | grep -q -- -workers; then
	"$BIN/cookiewatch" -r "$F" --each --all-cookies --format json --fail-on none -workers 1 >"$TMP/w1"
	"$BIN/cookiewatch" -r "$F" --each --all-cookies --format json --fail-on none -workers 2 >"$TMP/w2"
	if cmp -s "$TMP/w1" "$TMP/w2"; then
		echo "findings with 1 and 2 workers: identical ($(wc -l <"$TMP/w1") lines, --each)"
	else
		echo "findings with 1 and 2 workers: DIFFER"
	fi
fi
if [ "$FAULTS" = 1 ]; then
	FF=$DATA/bench-200M-seed$SEED-faults.pcap
	if [ ! -s "$FF" ] || [ ! -s "$FF.truth" ]; then
		"$BIN/cwgen" -o "$FF" -size 200M -seed "$SEED" -faults
	fi
	echo "fault-injected capture $FF:"
	"$BIN/cookiewatch" -r "$FF" --each --all-cookies --show-values --format json --fail-on none | "$BIN/cwrecall" -truth "$FF.truth" || true
fi
if [ "${FLAT:-0}" = 1 ]; then
	echo
	echo "memory flatness (peak RSS of cookiewatch, table output, default workers):"
	for sz in 100M 2G; do
		FS=$DATA/bench-$sz-seed$SEED.pcap
		if [ ! -s "$FS" ]; then
			"$BIN/cwgen" -o "$FS" -size "$sz" -seed "$SEED" >/dev/null
		fi
		/usr/bin/time -f "%e %U %S %M" -o "$TMP/time" "$BIN/cookiewatch" -r "$FS" "${CW_ARGS[@]}" >/dev/null 2>&1
		read -r w u sy kb <"$TMP/time"
		echo "  $sz: $(stat -c %s "$FS") bytes, wall $w s, peak RSS $((kb / 1024)) MiB"
		echo "$sz $kb" >>"$TMP/flat"
		if [ "$sz" = 2G ]; then rm -f "$FS" "$FS.truth"; fi
	done
	awk '{ r[$1] = $2 } END { printf "  2G/100M peak RSS: %.2fx (target <= 1.2x, and <= 100 MB)\n", r["2G"] / r["100M"] }' "$TMP/flat"
fi
