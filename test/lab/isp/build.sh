#!/bin/sh
# Builds the PPP lab's ISP: a QEMU guest of Debian's own kernel, busybox and pppd, booted from
# an initramfs. Usage: build.sh OUTDIR (writes OUTDIR/vmlinuz and OUTDIR/initrd.img).
# The kernel and busybox-static come from Debian's archive (apt-get download); pppd and its
# libraries are the host's Debian ppp package (build/host-deps.sh installs it), copied with
# what ldd says they load. The result is cached by test/lab/isp.ts under .cache/.
set -eu
out="$1"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

kernel_pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n1)"
if [ -z "$kernel_pkg" ]; then
  apt-get update -qq
  kernel_pkg="$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n1)"
fi
cd "$work"
apt-get download "$kernel_pkg" busybox-static >/dev/null 2>&1 || { apt-get update -qq && apt-get download "$kernel_pkg" busybox-static >/dev/null; }
mkdir ex root
for deb in ./*.deb; do dpkg-deb -x "$deb" ex; done

r="$work/root"
mkdir -p "$r/bin" "$r/sbin" "$r/usr/bin" "$r/usr/sbin" "$r/lib/modules" "$r/etc/ppp" "$r/www" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/run" "$r/var/run" "$r/var/lock"
cp ex/bin/busybox "$r/bin/busybox"
for applet in $("$r/bin/busybox" --list); do
  [ -e "$r/bin/$applet" ] || ln -s busybox "$r/bin/$applet"
done

# pppd, chat and slattach (a dial-in caller's tools), dnsmasq (the ISP's name servers) and every
# library they load, at the same paths.
for bin in /usr/sbin/pppd /usr/sbin/chat /usr/sbin/slattach /usr/sbin/dnsmasq; do
  [ -x "$bin" ] || bin="/sbin/${bin##*/}"
  cp "$bin" "$r/usr/sbin/${bin##*/}"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$r$(dirname "$lib")"
    cp -L "$lib" "$r$lib"
  done
done

# PPP for the async line: ppp_async needs ppp_generic, which needs slhc; crc-ccitt for the FCS.
# The compressors make pppd offer CCP, as it does on a stock Debian system. The line itself is a
# virtio console (hvc0): QEMU's 16550 costs the emulated CPU a trap per byte, which caps a TCG
# guest near 450 KB/s, below the 4 Mbit/s line the benchmark paces. Listed in load order, which
# init follows.
kver="${kernel_pkg#linux-image-}"
moddir="ex/lib/modules/$kver"
modules="crc-ccitt slhc slip ppp_generic ppp_async zlib_deflate zlib_inflate ppp_deflate bsd_comp virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console"
: >"$r/lib/modules/order"
for m in $modules; do
  f="$(find "$moddir" -name "$m.ko*" | head -n1)"
  if [ -z "$f" ]; then
    grep -q "/$m.ko" "$moddir/modules.builtin" || { echo "build.sh: module $m not found in $kernel_pkg" >&2; exit 1; }
    continue
  fi
  case "$f" in
    *.xz) xz -dc "$f" >"$r/lib/modules/$m.ko" ;;
    *.zst) zstd -dcq "$f" >"$r/lib/modules/$m.ko" ;;
    *) cp "$f" "$r/lib/modules/$m.ko" ;;
  esac
  echo "$m" >>"$r/lib/modules/order"
done

cp "$here/init" "$r/init"
chmod 755 "$r/init"
# As a dial-in caller (the gateway answers), the guest authenticates with the password it is given.
# The ISP's accounts: the gateway's credentials, as pppd reads them (user server secret addresses).
printf 'gateway\t*\ts3cret\t*\n' >"$r/etc/ppp/pap-secrets"
printf 'gateway\t*\ts3cret\t*\n' >"$r/etc/ppp/chap-secrets"
printf '#!/bin/sh\necho "ip-up $4 $5" >/dev/ttyS1\n' >"$r/etc/ppp/ip-up"
printf '#!/bin/sh\necho "ip-down $4 $5" >/dev/ttyS1\n' >"$r/etc/ppp/ip-down"
chmod 755 "$r/etc/ppp/ip-up" "$r/etc/ppp/ip-down"
chmod 600 "$r/etc/ppp/pap-secrets" "$r/etc/ppp/chap-secrets"
: >"$r/etc/ppp/options"
echo 'root:x:0:0:root:/:/bin/sh' >"$r/etc/passwd"
echo 'root:x:0:' >"$r/etc/group"
echo '<html><body>hello from the ISP</body></html>' >"$r/www/index.html"

mkdir -p "$out"
(cd "$r" && find . | cpio -o -H newc --quiet | gzip -6) >"$out/initrd.img.tmp"
cp "ex/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/initrd.img.tmp" "$out/initrd.img"
echo "build.sh: $kernel_pkg, $(du -h "$out/initrd.img" | cut -f1) initramfs in $out" >&2
