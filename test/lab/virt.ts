// The image booted in an emulated machine for the lab (DESIGN.md, test lab): QEMU virt with the
// image as a virtio disk (kernel and initrd from its own FAT partition, as the Pi's firmware
// would take them), two virtio NICs on taps that move into a LAN host's and a WAN host's
// namespaces once QEMU holds them, a DHCP server (dnsmasq) and a web server on the WAN side.
// Shared by the image tests and the boot benchmark.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface VirtLab {
  lan: string;
  wan: string;
  /** Everything the emulated Pi's console printed. */
  screen(): string;
  /** Waits until the console, from `from` on, matches. */
  waitFor(re: RegExp, ms: number, from?: number): Promise<void>;
  type(text: string): void;
  /** ms since QEMU started. */
  elapsed(): number;
  stop(): void;
}

const sh = (script: string): string => execFileSync('sh', ['-c', script], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin` } });

/** Boots `img` (copied: the guest writes to it) with the lab around it; `dir` is scratch space. */
export async function bootVirt(img: string, dir: string, tag: string): Promise<VirtLab> {
  const lan = `${tag}lan`;
  const wan = `${tag}wan`;
  const tapL = `${tag}l`;
  const tapW = `${tag}w`;
  const disk = join(dir, 'disk.img');
  let qemu: ChildProcess | undefined;
  let servers: ChildProcess | undefined;
  const stop = (): void => {
    qemu?.kill('SIGKILL');
    try {
      if (servers?.pid !== undefined) process.kill(-servers.pid, 'SIGTERM');
    } catch {
      // gone already
    }
    sh(`ip netns del ${lan} 2>/dev/null; ip netns del ${wan} 2>/dev/null; ip link del ${tapL} 2>/dev/null; ip link del ${tapW} 2>/dev/null; rm -f ${disk}; true`);
  };
  try {
    sh(`cp ${img} ${disk}; mcopy -o -i ${disk}@@4M ::vmlinuz ${dir}/vmlinuz; mcopy -o -i ${disk}@@4M ::initrd.img ${dir}/initrd.img`);
    for (const tap of [tapL, tapW]) sh(`ip tuntap add dev ${tap} mode tap; ip link set ${tap} up`);
    sh(`ip netns add ${lan}; ip netns add ${wan}`);
    const cmdline = sh(`mtype -i ${disk}@@4M ::cmdline.txt`).trim();
    const startedAt = Date.now();
    qemu = spawn('qemu-system-aarch64', [
      '-M', 'virt', '-cpu', 'cortex-a72', '-m', '1024', '-smp', '2', '-kernel', join(dir, 'vmlinuz'), '-initrd', join(dir, 'initrd.img'),
      '-append', `console=ttyAMA0 ${cmdline}`, '-drive', `file=${disk},if=none,format=raw,id=d`, '-device', 'virtio-blk-pci,drive=d',
      '-netdev', `tap,id=lan,ifname=${tapL},script=no,downscript=no`, '-device', 'virtio-net-pci,netdev=lan',
      '-netdev', `tap,id=wan,ifname=${tapW},script=no,downscript=no`, '-device', 'virtio-net-pci,netdev=wan',
      '-nographic', '-monitor', 'none', '-serial', 'stdio',
    ], { stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    qemu.stdout!.on('data', (d: Buffer) => (screen += d.toString('utf8')));
    qemu.stderr!.on('data', (d: Buffer) => (screen += d.toString('utf8')));
    // QEMU holds the taps now: they move into the lab's namespaces and keep working.
    await new Promise((r) => setTimeout(r, 1000));
    sh(`ip link set ${tapL} netns ${lan}; ip link set ${tapW} netns ${wan}`);
    sh(`ip netns exec ${lan} sh -c 'ip link set lo up; ip link set ${tapL} up; ip addr add 192.168.0.100/24 dev ${tapL}; ip route add default via 192.168.0.1'`);
    sh(`ip netns exec ${wan} sh -c 'ip link set lo up; ip link set ${tapW} up; ip addr add 203.0.113.1/24 dev ${tapW}'`);
    writeFileSync(join(dir, 'index.html'), 'hello from the WAN\n');
    servers = spawn('ip', ['netns', 'exec', wan, 'sh', '-c',
      `dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces --interface=${tapW} --except-interface=lo --dhcp-range=203.0.113.50,203.0.113.60 --dhcp-option=option:router,203.0.113.1 --pid-file= & ` +
      `python3 -m http.server 80 --bind 0.0.0.0 --directory ${dir} 2>${dir}/web.log & wait`], { stdio: 'ignore', detached: true });
    const q = qemu;
    return {
      lan, wan,
      screen: () => screen,
      waitFor: async (re, ms, from = 0) => {
        for (const end = Date.now() + ms; !re.test(screen.slice(from)); await new Promise((r) => setTimeout(r, 100))) {
          if (Date.now() > end) throw new Error(`no ${re} within ${ms} ms; the console shows:\n${screen.slice(-3000)}`);
        }
      },
      type: (text) => void q.stdin!.write(text),
      elapsed: () => Date.now() - startedAt,
      stop,
    };
  } catch (e) {
    stop();
    throw e;
  }
}
