# cookiewatch — build, demo and test targets. `make demo` and `make test` do
# all set-up on a fresh Debian machine with Go (they install libpcap-dev with
# apt-get when run as root, or print the command to run otherwise).

GO      ?= go
BIN     := ./cookiewatch
FUZZTIME ?= 20s
# Per-target time of `make fuzz-ci` (14 targets: about 3.5 minutes plus builds).
FUZZCI_TIME ?= 15s
FUZZ_PKGS := ./httpparse ./capture ./cmd/cookiewatch ./tlsdecrypt ./policy ./rules
# Where the shared corpus of public captures lives (tests read it; CI fails without it).
export COOKIEWATCH_CORPUS ?= $(abspath ../shared/corpus)

.PHONY: all deps build demo demo-pcap test vet fuzz fuzz-ci fuzz-short testdata clean

all: build

deps:
	@if [ ! -f /usr/include/pcap/pcap.h ] && [ ! -f /usr/include/pcap.h ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing libpcap-dev (libpcap headers are missing)"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpcap-dev >/dev/null; \
		else \
			echo "libpcap headers are missing: run  sudo apt-get install -y libpcap-dev  and retry" >&2; \
			exit 1; \
		fi; \
	fi
	@# CI renders the HTML report in headless Chromium (the tests fail without it under CI=true).
	@if [ "$$CI" = true ] && ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium (the HTML report tests render in it)"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

build: deps
	$(GO) build -o $(BIN) ./cmd/cookiewatch

demo: build
	$(BIN) demo

vet: deps
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

test: deps vet
	$(GO) test -count=1 ./...

# Record the embedded demo capture again: the vulnerable app, victim and
# attacker of internal/demoapp on loopback, captured with libpcap (needs root).
demo-pcap: deps
	$(GO) run ./internal/demoapp/gen -o internal/demoapp/demo.pcap

# Rebuild the sample captures from their transcripts (deterministic).
testdata: deps
	$(GO) run ./capture/capturetest/mkpcap testdata/pcap/*.txt

# Run every fuzz target for FUZZTIME each (make fuzz FUZZTIME=5m). A crasher
# is written to the package's testdata/fuzz/<Target>/ by go test: commit it
# (it then runs in every go test) and name the fix after it.
fuzz: deps
	@failed=""; for pkg in $(FUZZ_PKGS); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$t"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || failed="$$failed $$pkg:$$t"; \
		done; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz targets that found a failing input:$$failed"; exit 1; fi

# The CI's bounded fuzz run: every target for FUZZCI_TIME.
fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZCI_TIME)

clean:
	rm -f $(BIN)

# Benchmark of issue 6 (docs/performance.md): generates or reuses a 1 GB
# capture under BENCH_DATA and times cookiewatch, tshark and the decode floor.
.PHONY: bench
bench: deps
	./scripts/bench.sh
