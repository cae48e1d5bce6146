// Benchmark of the SD image (root: namespaces and taps): its size, and under QEMU virt the
// seconds from QEMU's start to forwarding (the WAN address taken, a LAN host's page fetched), and
// under raspi3b from QEMU's start to the console's prompt.
// Builds the image if build/image does not have one. Writes bench/results/boot.json.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootPi, copyImage, PROMPT } from '../test/lab/virt.js';

const REPO = join(import.meta.dirname, '..', '..');
const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const img = join(REPO, 'build/image', `gateway-${version}-rpi-arm64.img`);

if (process.getuid?.() !== 0) {
  console.log('boot bench: needs root (namespaces and taps); skipped');
  process.exit(0);
}
if (!existsSync(img)) execFileSync('sh', [join(REPO, 'image/build.sh')], { stdio: 'inherit' });
const dir = mkdtempSync(join(tmpdir(), 'gw-boot-'));
const disk = join(dir, 'disk.img');
/** The middle run, or the mean of the two middle ones. */
const median = (runs: number[]): number => {
  const r = [...runs].sort((a, b) => a - b);
  const m = r.length % 2 === 1 ? r[(r.length - 1) / 2]! : (r[r.length / 2 - 1]! + r[r.length / 2]!) / 2;
  return Math.round(m * 10) / 10;
};
const tenths = (runs: number[]): number[] => runs.map((r) => Math.round(r * 10) / 10);
const virt: number[] = [];
const raspi: { first: number; second: number }[] = [];
let spinning = 0;
try {
  // virt: from QEMU's start to a LAN host's first page through the gateway, each boot on a fresh copy.
  for (let i = 0; i < 3; i++) {
    copyImage(img, disk);
    const vm = await bootPi('virt', disk, dir, `bb${process.pid % 1000}${i}`);
    try {
      await vm.waitFor(/wan_address[^\n]*source=dhcp/, 180_000);
      // Tries again at once (curl's --retry-delay 0 would back off 1, 2, 4 … s, up to minutes).
      const fetched = (): boolean => {
        try {
          execFileSync('ip', ['netns', 'exec', vm.lan, 'curl', '-sS', '--max-time', '2', '-o', '/dev/null', 'http://203.0.113.1/index.html'], { stdio: 'pipe' });
          return true;
        } catch {
          return false;
        }
      };
      let tries = 0;
      while (!fetched()) if (++tries === 30) throw new Error(`virt boot ${i}: the LAN host gets no page through the gateway; the console shows:\n${vm.screen().slice(-3000)}`);
      virt.push(vm.elapsed() / 1000);
    } finally {
      await vm.stop();
    }
  }
  // raspi3b: from QEMU's start to the console's prompt; the first boot of a fresh image, then
  // the second (Node's compile cache on the data partition is warm by then).
  for (let i = 0; i < 3; i++) {
    copyImage(img, disk);
    const times: number[] = [];
    for (let b = 0; b < 2; b++) {
      const pi = await bootPi('raspi3b', disk, dir, `br${process.pid % 1000}${i}`);
      try {
        await pi.waitFor(PROMPT, 300_000);
        times.push(pi.elapsed() / 1000);
        await pi.waitFor(/wan_address[^\n]*source=dhcp/, 120_000);
      } finally {
        await pi.stop();
      }
    }
    raspi.push({ first: times[0]!, second: times[1]! });
  }
  // Once more with QEMU's spinning secondary vCPUs at normal priority, for comparison (README).
  copyImage(img, disk);
  const pi = await bootPi('raspi3b', disk, dir, `bs${process.pid % 1000}`, { idleSpinningCpus: false });
  try {
    await pi.waitFor(PROMPT, 300_000);
    spinning = pi.elapsed() / 1000;
  } finally {
    await pi.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const result = {
  virt_boot_to_forwarding_s: median(virt),
  virt_boot_to_forwarding_runs_s: tenths(virt),
  raspi3b_boot_to_prompt_s: median(raspi.map((r) => r.first)),
  raspi3b_boot_to_prompt_runs_s: tenths(raspi.map((r) => r.first)),
  raspi3b_second_boot_to_prompt_s: median(raspi.map((r) => r.second)),
  raspi3b_boot_to_prompt_cpus_spinning_s: tenths([spinning])[0],
  image_mib: Math.round(statSync(img).size / 1048576),
  image_xz_mb: Math.round(statSync(`${img}.xz`).size / 1e5) / 10,
  note: 'QEMU software emulation on this machine. virt (cortex-a72, 2 vCPUs): QEMU start to a LAN host\'s first page through the gateway, median of 3 fresh images. raspi3b: QEMU start to the console prompt on a fresh image (median of 3), and on its second boot with the compile cache warm; QEMU\'s three secondary vCPUs, which spin in its boot stub until Linux starts them, run at idle priority until each leaves the stub (README, test/lab/qemu.ts), except in the one boot _cpus_spinning',
};
for (const [k, v] of Object.entries(result)) console.log(`${k.padEnd(34)} ${JSON.stringify(v)}`);
mkdirSync(join(REPO, 'bench/results'), { recursive: true });
writeFileSync(join(REPO, 'bench/results/boot.json'), `${JSON.stringify(result, null, 2)}\n`);
