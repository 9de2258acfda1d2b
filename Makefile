# prepagent — see README.md. Every target works on a fresh Debian 12 machine
# as root; `make test` installs what the tests need first.
SHELL := /bin/bash
# The project machines keep Go in /usr/local/go; a login shell may not have it on PATH.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
# One version string everywhere (binaries, packages, reports): scripts/version.sh.
VERSION ?= $(shell bash scripts/version.sh)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := bin

.PHONY: all build prepctl demo test unit lint fuzz bench e2e e2e-matrix e2e-image package lint-packages clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/prepagent ./cmd/prepagent

# The host-side tool (links the Huawei Cloud SDK; the guest binary does not).
prepctl:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/prepctl ./cmd/prepctl

# The main job on the bundled example trees: a read-only check, then the
# dry-run diffs of what fix would change. Works on copies; the examples
# stay untouched.
demo: build
	@bash scripts/demo.sh $(BIN)/prepagent

# Everything CI runs: installs dependencies, lint, unit tests, real-thing
# (blackbox) tests, short fuzz passes, packaging and the qemu proof.
test:
	bash scripts/test.sh

unit:
	$(GO) test ./...

lint:
	bash scripts/lint.sh

bench:
	bash scripts/bench.sh

e2e:
	bash test/e2e/run.sh

# The whole boot matrix (issue 17): every stack booted, broken then working.
# CI runs E2E_MATRIX=ci (tests/ci.d/90-e2e.sh); this runs every cell.
e2e-matrix:
	bash test/e2e/matrix.sh

# `prepagent image` end to end (issue 18): the CI guest disk as vmdk and
# qcow2, image check / image fix, then the qcow2 booted on virtio.
e2e-image:
	bash test/e2e/image.sh

package:
	bash scripts/package.sh

lint-packages:
	bash scripts/lint-packages.sh

clean:
	rm -rf $(BIN) dist
