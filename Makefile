# Two commands on a fresh machine: `make run` and `make test`.
GO        ?= go
BIN       := bin
export GOFLAGS ?= -trimpath

.PHONY: all build run test test-deps vet bench screenshots clean

all: build

build:
	@echo "building bin/waitroom and bin/loadtest (the first build on a fresh machine downloads and compiles the modules: minutes, see README)"
	$(GO) build -o $(BIN)/waitroom ./cmd/waitroom
	$(GO) build -o $(BIN)/loadtest ./cmd/loadtest

# The gateway on :8080 with the in-memory store, identity first against the
# development identity provider on :8082, the demo booking backend on :8090
# behind it, the operator API on :8081. Ctrl-C stops all of it.
run: build
	@mkdir -p var && chmod 700 var
	@test -s var/admin-token || (head -c 24 /dev/urandom | base64 | tr '+/' '-_' > var/admin-token && chmod 600 var/admin-token)
	@echo "writing var/schedule.yaml: a 10-day rotation with one window open now"
	@$(BIN)/waitroom schedule > var/schedule.yaml
	@trap 'kill $$backend $$idp 2>/dev/null' EXIT INT TERM; \
	 $(BIN)/waitroom demo-backend --listen 127.0.0.1:8090 --jwks http://127.0.0.1:8080/.well-known/jwks.json & backend=$$!; \
	 $(BIN)/waitroom dev-idp --listen 127.0.0.1:8082 --schedule var/schedule.yaml & idp=$$!; \
	 echo "the identity provider's form fills in a birth date of the open window, a new person each time"; \
	 echo "operator token: var/admin-token   (curl -H \"Authorization: Bearer \$$(cat var/admin-token)\" http://127.0.0.1:8081/admin/api/state)"; \
	 WAITROOM_ADMIN_TOKEN_FILE=var/admin-token $(BIN)/waitroom serve --config etc/dev.yaml

# Every test. Installs redis-server, chromium (browser tests) and podman with
# runc (the container test) when missing and we may (root with apt-get), and
# axe-core (accessibility checks in the browser tests) with npm into var/npm.
# WAITROOM_SKIP_BROWSER=1 skips the browser tests, WAITROOM_SKIP_CONTAINER=1
# the container test.
AXE_VERSION := 4.14.1

test: test-deps vet
	$(GO) test -race -count=1 -timeout 9m ./...

test-deps:
	@missing=; \
	 command -v redis-server >/dev/null && command -v redis-cli >/dev/null || missing=" redis-server"; \
	 if [ "$$WAITROOM_SKIP_BROWSER" != 1 ]; then \
	   command -v chromium >/dev/null || missing="$$missing chromium"; \
	   command -v npm >/dev/null || missing="$$missing npm"; fi; \
	 if [ "$$WAITROOM_SKIP_CONTAINER" != 1 ]; then \
	   command -v podman >/dev/null || missing="$$missing podman"; \
	   command -v runc >/dev/null || missing="$$missing runc"; fi; \
	 [ -z "$$missing" ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing for the tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) || exit 1; \
	  else echo "missing for the tests:$$missing (run 'sudo apt-get install$$missing'; WAITROOM_SKIP_BROWSER=1 skips the browser tests, WAITROOM_SKIP_CONTAINER=1 the container test)"; exit 1; fi; }
	@[ "$$WAITROOM_SKIP_BROWSER" = 1 ] || grep -qs '"version": "$(AXE_VERSION)"' var/npm/node_modules/axe-core/package.json || { \
	  echo "installing axe-core $(AXE_VERSION) into var/npm for the browser tests"; \
	  mkdir -p var && npm install --silent --no-save --no-audit --no-fund --prefix var/npm axe-core@$(AXE_VERSION) >/dev/null || exit 1; }

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

# Throughput against a fasthttp baseline and nginx, plus go test -bench;
# writes docs/PERFORMANCE.md. Installs wrk and nginx when missing (root).
bench: build
	scripts/bench.sh

# Rewrites docs/screenshots/ from a run of the browser tests (plain test runs
# leave them alone). Korean comes from the pages' own web font.
screenshots: test-deps
	WAITROOM_SCREENSHOTS=1 $(GO) test -count=1 ./browser/

clean:
	rm -rf $(BIN)
