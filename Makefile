# One entry point for builds, tests and benchmarks. Node.js 24 (the image's runtime) comes
# from the npm package `node`, so the machine's own Node version does not matter.

NODE   := node_modules/.bin/node
TSC    := $(NODE) node_modules/typescript/bin/tsc
AVA    := $(NODE) node_modules/ava/entrypoints/cli.mjs

.PHONY: all deps host-deps build test bench fuzz soak demo clean image qemu

ADDON  := drivers/nic/addon/build/Release/packet_ring.node

all: build

# npm builds epoll and raw-socket for the machine's own Node; build/addon.sh then builds them,
# and our addon, once, against Node 24's headers (the runtime the gateway and the image use).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	sh build/addon.sh
	@touch $@

deps: node_modules/.installed

# Rebuilt only when its sources change; node_modules is order-only, so a fresh install (which
# builds it) does not make it look stale.
$(ADDON): $(wildcard drivers/nic/addon/*.c drivers/nic/addon/*.h) drivers/nic/addon/binding.gyp | node_modules/.installed
	sh build/addon.sh

# Debian packages of the lab (curl, iperf3, dnsmasq, nmap, ...): installed when root.
host-deps:
	sh build/host-deps.sh

# TypeScript builds incrementally (tsc --incremental): an unchanged tree compiles nothing.
TS_SOURCES := $(shell find firmware drivers test bench build -name '*.ts' -not -path '*/node_modules/*' 2>/dev/null) tsconfig.json
dist/.built: $(TS_SOURCES) node_modules/.installed
	$(TSC) -p . --incremental --tsBuildInfoFile dist/.tsbuildinfo
	@touch $@

# The single-file gateway the image runs (build/bundle.sh).
dist/gateway.mjs: dist/.built build/bundle.sh build/bundle.mjs $(wildcard build/*.cjs)
	sh build/bundle.sh $@

build: deps $(ADDON) dist/.built dist/gateway.mjs

test: build host-deps
	$(AVA)

# The forwarding benchmark needs root (namespaces); it reports why when it cannot run.
bench: build host-deps
	$(NODE) --expose-gc dist/bench/core.js
	$(NODE) dist/bench/ppp.js
	$(NODE) dist/bench/services.js
	$(NODE) dist/bench/forwarding.js
	$(NODE) dist/bench/boot.js
	$(NODE) dist/bench/fuzz.js

# Hostile input at full speed through the core, HDLC, the PPP session and the config reader
# (bench/fuzz.ts): 10 million frames and more; writes bench/results/fuzz.json, fails on a finding.
fuzz: build
	$(NODE) dist/bench/fuzz.js

# 30 minutes of faults on the PPP lab's line while a download loops (bench/soak.ts, root;
# SOAK_MINUTES=N to change the length); writes bench/results/soak.json.
soak: build host-deps
	$(NODE) dist/bench/soak.js

# The SD card image (build/image/gateway-<version>-rpi-arm64.img, .img.xz, .sha256), offline.
image: build host-deps
	sh image/build.sh

# The image booted under QEMU (virt), its console on this terminal.
qemu: image
	sh image/qemu.sh

# The lab of DESIGN.md with the gateway in the foreground (root); IMAGE=1: the SD image in an
# emulated Pi in its place.
demo: build host-deps $(if $(IMAGE),image)
	$(NODE) dist/test/lab/demo.js $(if $(filter ppp,$(WAN)),--ppp) $(if $(IMAGE),--image)

clean:
	rm -rf dist
