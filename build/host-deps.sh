#!/bin/sh
# Installs the Debian packages the network tests, the demo and the benchmarks use: the lab's
# real clients and servers, the tools the gateway itself runs (ip, ethtool), and what the PPP
# lab's ISP guest is built and run with (test/lab/isp: QEMU, Debian's pppd, socat for the pty).
# As root it installs what is missing; otherwise it only reports.
set -eu
# command → Debian package
need="ip:iproute2 ethtool:ethtool curl:curl iperf3:iperf3 dnsmasq:dnsmasq-base nmap:nmap traceroute:traceroute
dig:dnsutils nft:nftables ping:iputils-ping python3:python3 tcpdump:tcpdump
qemu-system-x86_64:qemu-system-x86 socat:socat pppd:ppp cpio:cpio xz:xz-utils
sfdisk:fdisk mkfs.vfat:dosfstools mcopy:mtools mksquashfs:squashfs-tools mke2fs:e2fsprogs
qemu-system-aarch64:qemu-system-arm aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu aarch64-linux-gnu-g++:g++-aarch64-linux-gnu
vsftpd:vsftpd in.tftpd:tftpd-hpa tftp:tftp-hpa ngircd:ngircd slattach:net-tools
dhclient:isc-dhcp-client busybox:busybox"
missing=""
for pair in $need; do
  cmd="${pair%%:*}"
  pkg="${pair#*:}"
  PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "build/host-deps.sh: missing$missing (run as root to install; network tests will skip)" >&2
  exit 0
fi
echo "build/host-deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The lab's servers (vsftpd, tftpd-hpa, ngircd, dnsmasq) run in namespaces the tests make: the
# packages must not start system-wide services on the host (policy-rc.d, as Debian's tools ask).
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  policy=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
