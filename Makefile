# sockscope — watch an HTTP request travel down to the syscalls.
#
#   make run     start sockscope (engine :8080, dashboard :7070); needs only Go
#   make test    install what the tests need (curl, chromium) and run them all
#   make bench   load benchmarks: engine vs net/http, pipeline throughput
#   make lint    gofmt + go vet

GO       ?= go
ARGS     ?=
FUZZTIME ?= 1m
BENCHTIME ?= 1s

.PHONY: run build test test-deps test-go test-js lint fmt bench fuzz clean help

help:
	@sed -n 's/^#   //p' Makefile

run:
	$(GO) run . $(ARGS)

build:
	$(GO) build -o sockscope .

# test-deps installs Debian's curl and chromium when they are missing. It
# needs root (or sudo) and apt; elsewhere it says what to install instead.
test-deps:
	@missing=""; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	if [ -n "$$missing" ]; then \
		echo "make test: installing$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
		if command -v apt-get >/dev/null 2>&1; then \
			$$SUDO apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null || \
			{ echo "make test: could not install$$missing; install it and retry"; exit 1; }; \
		else \
			echo "make test: please install$$missing"; exit 1; \
		fi; \
	fi

test: test-deps lint test-go test-js

test-go:
	$(GO) test -race -timeout 8m ./...

test-js:
	node --test static/test/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# bench: a load run with wrk (installed from Debian when missing) against
# the engine untraced, traced, traced with a viewer, net/http and fasthttp,
# three workloads, BENCHRUNS runs of BENCHDUR each, and the syscall-to-viewer
# latency (docs/BENCHMARKS.md); 10,000 idle keep-alive connections (memory,
# idle CPU); then the Go benchmarks of the parser, the event path and the hub.
BENCHRUNS ?= 3
BENCHDUR  ?= 3s
BENCHBIN  ?= $(or $(TMPDIR),/tmp)/sockscope-bench
bench:
	@command -v wrk >/dev/null 2>&1 || { \
		echo "make bench: installing wrk"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null || \
		{ echo "make bench: could not install wrk; install it and retry"; exit 1; }; }
	@mkdir -p $(BENCHBIN)
	$(GO) build -o $(BENCHBIN)/loadbench ./engine/internal/loadbench
	cd engine/internal/benchref && $(GO) build -o $(BENCHBIN)/benchref .
	$(BENCHBIN)/loadbench -ref $(BENCHBIN)/benchref -runs $(BENCHRUNS) -duration $(BENCHDUR)
	$(GO) test ./engine -run '^TestManyIdleConns$$' -count 1 -v
	$(GO) test ./engine ./viz ./api -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME)

fuzz:
	$(GO) test ./engine -run '^$$' -fuzz FuzzParseHead -fuzztime $(FUZZTIME)

clean:
	rm -f sockscope
