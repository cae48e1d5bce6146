#!/bin/sh
# `make qemu`: the image booted in an emulated machine, to try by hand. QEMU's virt board (as the
# image tests use it: the image as a virtio disk, kernel and initrd taken from its own FAT
# partition), two NICs: eth0 (LAN) is QEMU's user network, eth1 (WAN) too, whose DHCP server
# gives the gateway its address. The serial console is this terminal: type `help`.
# Ctrl-A X quits QEMU.
set -eu
repo="$(cd "$(dirname "$0")/.." && pwd)"
version="$(node -p "require('$repo/package.json').version")"
img="$repo/build/image/gateway-$version-rpi-arm64.img"
[ -f "$img" ] || { echo "make qemu: no $img (make image first)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp "$img" "$tmp/disk.img"
mcopy -o -i "$tmp/disk.img@@4M" ::vmlinuz "$tmp/vmlinuz"
mcopy -o -i "$tmp/disk.img@@4M" ::initrd.img "$tmp/initrd.img"
cmdline="$(mtype -i "$tmp/disk.img@@4M" ::cmdline.txt)"
echo "Booting $img under QEMU (virt, cortex-a72); the gateway's console follows. Ctrl-A X quits." >&2
exec qemu-system-aarch64 -M virt -cpu cortex-a72 -m 1024 -smp 2 \
  -kernel "$tmp/vmlinuz" -initrd "$tmp/initrd.img" -append "console=ttyAMA0 $cmdline" \
  -drive "file=$tmp/disk.img,if=none,format=raw,id=d" -device virtio-blk-pci,drive=d \
  -nic user,model=virtio-net-pci,net=192.168.0.0/24,host=192.168.0.2,dhcpstart=192.168.0.100 \
  -nic user,model=virtio-net-pci \
  -nographic
