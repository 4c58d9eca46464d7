# p-kernel build. Two commands matter: `make run` and `make test`.
GO       ?= go
BIN      := bin/pkhost
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X github.com/p-kernel/p-kernel/host/node.Version=$(VERSION)
MODULES  := $(notdir $(wildcard modules/*))
EMBEDDED := $(MODULES:%=host/embed/wasm/%.wasm)
WASIP1   := GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0

.PHONY: all run test modules build release vet guest-vet fmt-check clean bench image

all: build

# First-party modules, compiled to wasm and embedded into pkhost.
host/embed/wasm/%.wasm: FORCE
	$(WASIP1) $(GO) build -buildmode=c-shared -trimpath -o $@ ./modules/$*

modules: $(EMBEDDED)

build: modules
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./host/cmd/pkhost

# Static pkhost binaries for every platform a node runs on, with checksums:
# dist/pkhost-VERSION-OS-ARCH[.exe] and dist/SHA256SUMS. android/arm64 is the
# phone build (Termux; see README). CGO is off: one self-contained file each.
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64 android/arm64
DIST      := dist
SHA256    := $(shell command -v sha256sum >/dev/null 2>&1 && echo sha256sum || echo 'shasum -a 256')

release: modules
	rm -rf $(DIST) && mkdir -p $(DIST)
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		out=$(DIST)/pkhost-$(VERSION)-$$os-$$arch$$ext; echo "  $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $$out ./host/cmd/pkhost; \
	done
	cd $(DIST) && $(SHA256) pkhost-* > SHA256SUMS
	@ls -l $(DIST)

# Start a node on the default data directory (Ctrl-C stops it cleanly).
run: build
	./$(BIN) run $(ARGS)

vet: guest-vet
	$(GO) vet ./...

# `go vet ./...` on the host skips wasip1-only packages; vet them for wasip1.
guest-vet:
	$(WASIP1) $(GO) vet ./abi/... ./sdk/go/... ./modules/... ./tests/guests/... ./examples/prefilter/...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every test. Guest modules are built first; tests build their own test
# guests and the pkhost binary as they run.
test: modules fmt-check vet
	$(GO) test -count=1 -timeout 15m ./...

# A boot image (ARCH=amd64|386|arm64|rpi) in build/image-$(ARCH); see README § Boot images.
ARCH ?= amd64
image:
	$(GO) run ./boot/mkimage -arch $(ARCH) -o build/image-$(ARCH) $(MKIMAGE_FLAGS)

bench: modules
	./bench/run.sh

clean:
	rm -rf bin $(DIST) $(EMBEDDED)

FORCE:
