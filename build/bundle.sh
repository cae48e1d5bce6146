#!/bin/sh
# The gateway as one JavaScript file (dist/gateway.mjs): what the image runs, so that a boot
# reads and compiles one file instead of resolving ~150 modules on a slow SD card. Packages
# with native code stay outside (node_modules beside it, resolved at run time): onoff's epoll,
# raw-socket; our addon is found under the package root (drivers/nic/packet-link.ts).
# serialport's driver is bundled but for its native part, which node-gyp-build (aliased to
# build/node-gyp-build.cjs) loads from node_modules: resolving and compiling the package's
# files at run time took 0.6 s of an emulated boot.
#   build/bundle.sh [OUTFILE]
#   build/bundle.sh --externals     (the packages the image's node_modules holds)
set -eu
externals="onoff epoll raw-socket"
[ "${1:-}" = "--externals" ] && { echo "$externals @serialport/bindings-cpp"; exit 0; }
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$repo/dist/gateway.mjs}"
"$repo/node_modules/.bin/node" "$repo/build/bundle.mjs" "$out" $externals
