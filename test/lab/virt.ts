// The image booted in an emulated machine for the lab (DESIGN.md, test lab), kernel, initrd and
// device tree taken from the disk's own FAT partition as the Pi's firmware would take them:
//
// - `virt` (QEMU virt, cortex-a72): the image as a virtio disk, two virtio NICs (eth0, eth1),
//   and, when asked, a pci-serial port (the guest's /dev/ttyS0) on a host tty: the PPP lab's
//   modem emulator.
// - `raspi3b` (the real board's model): the image as the SD card, the console on the mini UART
//   (ttyS1, the header pins, as the device tree's stdout-path says), two USB network adapters
//   with universally administered MACs, which cdc_ether names eth0 and eth1.
//
// Either way the NICs are taps that move into a LAN host's and a WAN host's namespaces once
// QEMU holds them, with a DHCP server (dnsmasq) and a web server on the WAN side.
// Shared by the image tests and the boot benchmark.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hmp, idleParkedCpus, startQemu, type QemuConsole } from './qemu.js';

export type PiMachine = 'virt' | 'raspi3b';

/** The gateway's prompt on the serial console. */
export const PROMPT = /gateway \([^)]*\)> /;

export interface PiLab extends Omit<QemuConsole, 'kill' | 'exited' | 'running' | 'pid'> {
  lan: string;
  wan: string;
  /** Bytes the guest has sent on its WAN port (the tap's receive counter, host side). */
  wanBytesFromGuest(): number;
  /** Starts the WAN's DHCP server, when the lab was booted without it. */
  startDhcp(): void;
  /** virt with wan: 'usb': plugs the WAN's USB network adapter in (QEMU's monitor: device_add). */
  plugWan(): Promise<void>;
  /** ... and pulls it out (device_del). */
  unplugWan(): Promise<void>;
  /** Pulls the power and removes the lab (the disk stays). */
  stop(): Promise<void>;
}

export interface PiLabOptions {
  /** virt only: a host tty (a pty) for the guest's pci-serial port, /dev/ttyS0 (bridged by socat). */
  serial?: string;
  /** The port `serial` is wired to: a 16550 on PCI (/dev/ttyS0, the default) or a virtio console (/dev/hvc0). */
  serialPort?: 'pci-serial' | 'virtconsole';
  /** false: the WAN's DHCP server waits for startDhcp(). */
  dhcp?: boolean;
  /**
   * virt only. 'usb': the WAN is a USB network adapter on an xHCI controller, not plugged in
   * at boot: plugWan() and unplugWan() plug it in and pull it out while the guest runs.
   */
  wan?: 'virtio' | 'usb';
  /** The console's output copied here too (make demo IMAGE=1). */
  echo?: NodeJS.WritableStream;
  /** raspi3b only. false: QEMU's secondary vCPUs keep normal priority while parked (idleParkedCpus). */
  idleSpinningCpus?: boolean;
}

const sh = (script: string): string => execFileSync('sh', ['-c', script], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin` } });

/** A copy of the image to boot (the guest writes to it); the copy keeps what the guest wrote between boots. */
export function copyImage(img: string, disk: string): void {
  sh(`cp ${img} ${disk}`);
}

/** Writes a file on the disk's FAT partition (at 4 MiB), as a user does from a PC after flashing. */
export function writeBootFile(disk: string, name: string, text: string, dir: string): void {
  const tmp = join(dir, `boot-${name}`);
  writeFileSync(tmp, text);
  sh(`mcopy -o -i ${disk}@@4M ${tmp} ::${name}`);
}

export function readBootFile(disk: string, name: string): string {
  return sh(`mtype -i ${disk}@@4M ::${name}`);
}

/** Boots `disk` under `machine` with the lab around it; `dir` is scratch space, `tag` names the lab's links. */
export async function bootPi(machine: PiMachine, disk: string, dir: string, tag: string, options: PiLabOptions = {}): Promise<PiLab> {
  const lan = `${tag}lan`;
  const wan = `${tag}wan`;
  const tapL = `${tag}l`;
  const tapW = `${tag}w`;
  const monitor = join(dir, `${tag}.monitor`);
  const serialSocket = join(dir, `${tag}.serial`);
  let qemu: QemuConsole | undefined;
  const servers: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    qemu?.kill();
    await qemu?.exited;
    for (const server of servers) {
      try {
        if (server.pid !== undefined) process.kill(-server.pid, 'SIGTERM');
      } catch {
        // gone already
      }
    }
    sh(`ip netns del ${lan} 2>/dev/null; ip netns del ${wan} 2>/dev/null; ip link del ${tapL} 2>/dev/null; ip link del ${tapW} 2>/dev/null; true`);
    for (const socket of [monitor, serialSocket]) rmSync(socket, { force: true });
  };
  try {
    const dtb = machine === 'raspi3b' ? 'bcm2837-rpi-3-b.dtb' : undefined;
    for (const f of ['vmlinuz', 'initrd.img', ...(dtb !== undefined ? [dtb] : [])]) sh(`mcopy -o -i ${disk}@@4M ::${f} ${dir}/${f}`);
    for (const tap of [tapL, tapW]) sh(`ip tuntap add dev ${tap} mode tap; ip link set ${tap} up`);
    sh(`ip netns add ${lan}; ip netns add ${wan}`);
    const cmdline = readBootFile(disk, 'cmdline.txt').trim();
    const boot = ['-kernel', join(dir, 'vmlinuz'), '-initrd', join(dir, 'initrd.img')];
    const usbWan = machine === 'virt' && options.wan === 'usb';
    const taps = (nic: string): string[] => [
      '-netdev', `tap,id=lan,ifname=${tapL},script=no,downscript=no`, '-device', `${nic},netdev=lan${nic === 'usb-net' ? ',mac=00:16:3e:6a:7e:01' : ''}`,
      '-netdev', `tap,id=wan,ifname=${tapW},script=no,downscript=no`, '-device', `${nic},netdev=wan${nic === 'usb-net' ? ',mac=00:16:3e:6a:7e:02' : ''}`,
    ];
    qemu = machine === 'virt'
      ? startQemu('qemu-system-aarch64', [
        '-M', 'virt', '-cpu', 'cortex-a72', '-m', '1024', '-smp', '2', ...boot, '-append', `console=ttyAMA0 ${cmdline}`,
        '-drive', `file=${disk},if=none,format=raw,id=d`, '-device', 'virtio-blk-pci,drive=d',
        ...(usbWan ? [...taps('virtio-net-pci').slice(0, 4), '-netdev', `tap,id=wan,ifname=${tapW},script=no,downscript=no`, '-device', 'qemu-xhci,id=xhci'] : taps('virtio-net-pci')),
        ...(options.serial !== undefined ? ['-chardev', `socket,id=modem,path=${serialSocket},server=on,wait=off`,
          ...(options.serialPort === 'virtconsole' ? ['-device', 'virtio-serial-pci', '-device', 'virtconsole,chardev=modem'] : ['-device', 'pci-serial,chardev=modem'])] : []),
        '-serial', 'stdio', '-monitor', `unix:${monitor},server,nowait`,
      ], options.echo)
      // No console= (the Pi's firmware would put one there only if cmdline.txt said serial0):
      // the device tree's stdout-path names the mini UART, the second serial port.
      : startQemu('qemu-system-aarch64', [
        '-M', 'raspi3b', '-name', 'pi,debug-threads=on', ...boot, '-dtb', join(dir, dtb!), '-append', cmdline,
        '-drive', `file=${disk},if=sd,format=raw`, ...taps('usb-net'), '-serial', 'null', '-serial', 'stdio',
        '-monitor', `unix:${monitor},server,nowait`,
      ], options.echo);
    if (machine === 'raspi3b' && options.idleSpinningCpus !== false) await idleParkedCpus(qemu, monitor, 4);
    // Once QEMU holds the taps (a tap has carrier while a process has it open) they move into
    // the lab's namespaces and keep working. Moved before that, QEMU would create a new tap of
    // the same name and the guest's NIC would be wired to nothing: a fixed second of waiting
    // was sometimes too short on a busy machine (a LAN host whose ARP went unanswered).
    const held = (tap: string): boolean => sh(`cat /sys/class/net/${tap}/carrier 2>/dev/null || echo 0`).trim() === '1';
    for (const end = Date.now() + 30_000; !(held(tapL) && held(tapW)); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > end) throw new Error(`QEMU did not open its taps ${tapL} and ${tapW} within 30 s:\n${qemu.screen().slice(-2000)}`);
    }
    // The serial port's far end is a socket bridged to the host tty by socat, which opens it raw
    // once: QEMU's own tty backend makes it a terminal again (output processing turns 0x0a into
    // 0x0d 0x0a) whenever the guest sets the UART's speed, which corrupts PPP frames once LCP
    // stops escaping control bytes. A real UART has no such layer.
    if (options.serial !== undefined) {
      servers.push(spawn('socat', [`UNIX-CONNECT:${serialSocket}`, `${options.serial},raw,echo=0`], { stdio: 'ignore', detached: true }));
    }
    sh(`ip link set ${tapL} netns ${lan}; ip link set ${tapW} netns ${wan}`);
    sh(`ip netns exec ${lan} sh -c 'ip link set lo up; ip link set ${tapL} up; ip addr add 192.168.0.100/24 dev ${tapL}; ip route add default via 192.168.0.1'`);
    sh(`ip netns exec ${wan} sh -c 'ip link set lo up; ip link set ${tapW} up; ip addr add 203.0.113.1/24 dev ${tapW}'`);
    writeFileSync(join(dir, 'index.html'), 'hello from the WAN\n');
    const serve = (script: string): void => void servers.push(spawn('ip', ['netns', 'exec', wan, 'sh', '-c', script], { stdio: 'ignore', detached: true }));
    const startDhcp = (): void => serve(`exec dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces --interface=${tapW} --except-interface=lo --dhcp-range=203.0.113.50,203.0.113.60 --dhcp-option=option:router,203.0.113.1 --pid-file=`);
    serve(`exec python3 -m http.server 80 --bind 0.0.0.0 --directory ${dir} 2>${dir}/web.log`);
    if (options.dhcp !== false) startDhcp();
    const { screen, waitFor, type, elapsed } = qemu;
    const wanBytesFromGuest = (): number => Number(sh(`ip netns exec ${wan} cat /sys/class/net/${tapW}/statistics/rx_bytes`).trim());
    const plugWan = async (): Promise<void> => void await hmp(monitor, 'device_add usb-net,netdev=wan,id=wannic,bus=xhci.0,mac=00:16:3e:6a:7e:02');
    const unplugWan = async (): Promise<void> => void await hmp(monitor, 'device_del wannic');
    return { lan, wan, screen, waitFor, type, elapsed, wanBytesFromGuest, startDhcp, plugWan, unplugWan, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
