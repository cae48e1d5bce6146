#!/bin/sh
# Builds the native code with node-gyp against the headers of the Node.js the gateway runs on
# (the npm package `node`, which ships include/node), so nothing is downloaded: our AF_PACKET
# addon (drivers/nic/addon), and the product's native dependencies that npm built against the
# machine's own Node.js (`epoll` under onoff, `raw-socket`), whose ABI differs from Node 24's.
# Run by `make build` after `npm ci`. npm's own settings (a nodedir pointing at the machine's
# headers) must not reach node-gyp here.
set -eu
cd "$(dirname "$0")/.."
unset npm_config_nodedir npm_config_node_gyp NODEDIR 2>/dev/null || true
nodedir=""
for d in node_modules/node/node_modules/node-linux-*; do
  [ -f "$d/include/node/node_api.h" ] && nodedir="$PWD/$d"
done
if [ -z "$nodedir" ]; then
  echo "build/addon.sh: no Node.js headers under node_modules/node (run npm ci)" >&2
  exit 1
fi
gyp="$(command -v node-gyp || true)"
if [ -z "$gyp" ]; then
  npm_root="$(npm root -g)"
  gyp="node $npm_root/npm/node_modules/node-gyp/bin/node-gyp.js"
fi
$gyp rebuild --directory=drivers/nic/addon --nodedir="$nodedir" --loglevel=warn
for dep in epoll raw-socket; do
  if [ -f "node_modules/$dep/binding.gyp" ]; then
    $gyp rebuild --directory="node_modules/$dep" --nodedir="$nodedir" --loglevel=warn
  fi
done
