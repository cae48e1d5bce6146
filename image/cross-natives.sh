#!/bin/sh
# The native code of the gateway, built for arm64 with Debian's cross compilers against Node 24's
# headers (the same defines node-gyp uses): our AF_PACKET addon, epoll (under onoff) and
# raw-socket. serialport's bindings ship an arm64 prebuild (N-API) and need nothing.
#   image/cross-natives.sh REPO APPDIR
set -eu
repo="$1"
app="$2"
inc="$(ls -d "$repo"/node_modules/node/node_modules/node-linux-*/include/node | head -n1)"
defs="-DUSING_UV_SHARED=1 -DUSING_V8_SHARED=1 -DV8_DEPRECATION_WARNINGS=1 -D_GLIBCXX_USE_CXX11_ABI=1 -D_FILE_OFFSET_BITS=64
  -D_LARGEFILE_SOURCE -D__STDC_FORMAT_MACROS -DBUILDING_NODE_EXTENSION"
flags="-O3 -fPIC -pthread -shared -fno-omit-frame-pointer -ffile-prefix-map=$repo=. -Wno-deprecated-declarations"
# The addon is every C file of its folder, as binding.gyp lists them for the host's build.
mkdir -p "$app/drivers/nic/addon/build/Release" "$app/node_modules/epoll/build/Release" "$app/node_modules/raw-socket/build/Release"
# shellcheck disable=SC2086
aarch64-linux-gnu-gcc $flags $defs -DNODE_GYP_MODULE_NAME=packet_ring -I"$inc" \
  "$repo"/drivers/nic/addon/*.c -o "$app/drivers/nic/addon/build/Release/packet_ring.node"
for m in epoll:epoll raw-socket:raw; do
  dir="${m%%:*}"
  mod="${m#*:}"
  # shellcheck disable=SC2086
  aarch64-linux-gnu-g++ $flags $defs -DNODE_GYP_MODULE_NAME=$mod -fno-rtti -fno-exceptions -std=gnu++20 -I"$inc" -I"$repo/node_modules/nan" \
    "$repo/node_modules/$dir/src/$mod.cc" -o "$app/node_modules/$dir/build/Release/$mod.node"
done
