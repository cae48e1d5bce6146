#!/bin/sh
# The initrd: static busybox, the kernel modules the image carries (those that find and mount
# the root: SD, USB, virtio; squashfs, ext4, FAT; and those the gateway may need: veth, USB
# Ethernet and serial modems, GPIO LEDs) with depmod's index of them, the script that loads a
# device's driver when it appears (image/hotplug), and our init (image/init). The root carries the same
# modules and script (build.sh copies them from here), for devices plugged in after boot.
#   image/initrd.sh FIRMWARE_TREE ROOTFS_TREE OUTDIR KERNEL_ABI
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
fw="$1"
rootfs="$2"
out="$3"
abi="$4"
rm -rf "$out"
mkdir -p "$out/bin" "$out/sbin" "$out/lib/modules/$abi" "$out/proc" "$out/sys" "$out/dev" "$out/newroot"
cp "$rootfs/bin/busybox" "$out/bin/busybox"
for tool in sh mount umount mkdir sleep cat echo kill chroot modprobe uevent switch_root od hexdump ls; do ln -s busybox "$out/bin/$tool"; done
ln -s ../bin/busybox "$out/sbin/modprobe"
install -m 755 "$here/init" "$out/init"
install -m 755 "$here/hotplug" "$out/sbin/hotplug"
mods="$fw/lib/modules/$abi"
# The USB network adapters' drivers, loaded as soon as a USB bus appears (image/init,
# image/hotplug), the class driver first (image/hotplug says why).
usb_net="cdc_ether smsc95xx lan78xx r8152 ax88179_178a asix cdc_ncm qmi_wwan cdc_mbim"
echo "$usb_net" >"$out/lib/usb-net-drivers"
# The on-board Ethernet's PHY and MDIO drivers, each loaded by its device's modalias: a Pi 4's
# GENET reaches its Broadcom PHY through the UniMAC MDIO bus (without it the port never comes
# up); the Pi 3B's and 3B+'s USB adapters have SMSC and Microchip PHYs. The Pi 4's USB 3
# controller, on PCIe, has its firmware loaded through the firmware's reset controller.
node "$here/modules.mjs" "$mods" \
  virtio_pci virtio_blk virtio_net virtio_console \
  sdhci_iproc bcm2835 dwc2 phy_generic xhci_pci reset_raspberrypi usb_storage uas sd_mod \
  squashfs crc32c_generic ext4 vfat nls_utf8 nls_cp437 nls_ascii \
  veth genet mdio_bcm_unimac broadcom smsc microchip $usb_net \
  usbserial option cdc_acm pl2303 ftdi_sio ch341 cp210x leds_gpio >"$out/order"
while read -r rel; do
  mkdir -p "$out/lib/modules/$abi/$(dirname "$rel")"
  cp "$mods/$rel" "$out/lib/modules/$abi/$rel"
done <"$out/order"
rm "$out/order"
node "$here/modules.mjs" --index "$out/lib/modules/$abi"
