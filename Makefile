# netsys: every target installs what it needs at a pinned version; only Go is assumed.
GO          ?= go
BIN         := $(CURDIR)/bin
STATICCHECK := $(BIN)/staticcheck
STATICCHECK_VERSION := v0.6.1
FUZZTIME    ?= 10s
SOAKTIME    ?= 60s

.PHONY: test test-short lint bench fuzz soak demo clean

## test: formatting, vet, staticcheck, every test under the race detector, then
## the allocation tests without it (they skip under -race, which allocates)
test: lint
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run Allocs ./...

## test-short: the quick subset (slow tests skip under -short)
test-short:
	$(GO) test -short -race -count=1 ./...

## lint: gofmt, go vet and staticcheck (pinned)
lint: $(STATICCHECK)
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

$(STATICCHECK):
	GOBIN=$(BIN) GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## bench: every Go benchmark, with allocations
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

## fuzz: a bounded run ($(FUZZTIME) each) of every fuzz target in the module
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$t"; \
			$(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$pkg; \
		done; \
	done

## soak: about a minute of mixed load, churn and faults; prints resources at start and end
soak:
	NETSYS_SOAK=$(SOAKTIME) $(GO) test -run='^TestSoak$$' -count=1 -v -timeout=10m ./internal/faulttest/

## demo: the main job, a quick side-by-side benchmark of netsys against net and bare gnet
demo:
	$(GO) run ./cmd/echo compare -quick

clean:
	rm -rf $(BIN)

## cluster-demo: three `echo serve -fanout` processes, each with an embedded
## NATS server routed to the others, and fan-out load across them (bounded)
.PHONY: cluster-demo
cluster-demo:
	$(GO) run ./cmd/echo cluster-demo -nodes 3 -conns 300 -rate 100 -duration 5s -timeout 2m
