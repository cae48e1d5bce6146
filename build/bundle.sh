#!/bin/sh
# The gateway as one JavaScript file (dist/gateway.mjs): what the image runs, so that a boot
# reads and compiles one file instead of resolving ~150 modules on a slow SD card. Packages
# with native code stay outside (node_modules beside it, resolved at run time): serialport's
# bindings, onoff's epoll, raw-socket; our addon is found under the package root
# (drivers/nic/packet-link.ts).
#   build/bundle.sh [OUTFILE]
#   build/bundle.sh --externals     (the packages left outside, for the image's node_modules)
set -eu
externals="@serialport/bindings-cpp onoff epoll raw-socket"
[ "${1:-}" = "--externals" ] && { echo "$externals"; exit 0; }
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$repo/dist/gateway.mjs}"
# Minified (less to read and parse on a slow card; names kept for stack traces and logs).
# CommonJS packages inside an ES module bundle call require(): give them one.
"$repo/node_modules/.bin/esbuild" "$repo/dist/firmware/main.js" --bundle --platform=node --format=esm --target=node24 \
  --outfile="$out" --legal-comments=none --log-level=warning --minify --keep-names \
  $(for e in $externals; do printf -- '--external:%s ' "$e"; done) \
  "--banner:js=import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
