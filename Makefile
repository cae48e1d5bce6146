# One entry point for builds, tests and benchmarks. Node.js 24 (the image's runtime) comes
# from the npm package `node`, so the machine's own Node version does not matter.

NODE   := node_modules/.bin/node
TSC    := $(NODE) node_modules/typescript/bin/tsc
AVA    := $(NODE) node_modules/ava/entrypoints/cli.mjs

.PHONY: all deps build test bench clean

all: build

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed

build: deps
	$(TSC) -p .

test: build
	$(AVA)

bench: build
	$(NODE) --expose-gc dist/bench/core.js

clean:
	rm -rf dist
