// Benchmark of the SD image (root: namespaces and taps): its size, and under QEMU virt the
// seconds from QEMU's start to forwarding (the WAN address taken, a LAN host's page fetched).
// Builds the image if build/image does not have one. Writes bench/results/boot.json.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootVirt } from '../test/lab/virt.js';

const REPO = join(import.meta.dirname, '..', '..');
const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const img = join(REPO, 'build/image', `gateway-${version}-rpi-arm64.img`);

if (process.getuid?.() !== 0) {
  console.log('boot bench: needs root (namespaces and taps); skipped');
  process.exit(0);
}
if (!existsSync(img)) execFileSync('sh', [join(REPO, 'image/build.sh')], { stdio: 'inherit' });
const dir = mkdtempSync(join(tmpdir(), 'gw-boot-'));
const runs: number[] = [];
try {
  for (let i = 0; i < 3; i++) {
    const vm = await bootVirt(img, dir, `bb${process.pid % 1000}${i}`);
    try {
      await vm.waitFor(/wan_address[^\n]*source=dhcp/, 180_000);
      execFileSync('ip', ['netns', 'exec', vm.lan, 'curl', '-sS', '--retry', '20', '--retry-all-errors', '--retry-delay', '0', '--max-time', '2', '-o', '/dev/null', 'http://203.0.113.1/index.html']);
      runs.push(vm.elapsed() / 1000);
    } finally {
      vm.stop();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
runs.sort((a, b) => a - b);
const result = {
  virt_boot_to_forwarding_s: Math.round(runs[1]! * 10) / 10,
  virt_boot_to_forwarding_runs_s: runs.map((r) => Math.round(r * 10) / 10),
  image_mib: Math.round(statSync(img).size / 1048576),
  image_xz_mb: Math.round(statSync(`${img}.xz`).size / 1e5) / 10,
  note: 'QEMU virt (cortex-a72, software emulation, 2 vCPUs) on this machine: QEMU start to a LAN host\'s first page through the gateway; median of 3',
};
for (const [k, v] of Object.entries(result)) console.log(`${k.padEnd(34)} ${JSON.stringify(v)}`);
mkdirSync(join(REPO, 'bench/results'), { recursive: true });
writeFileSync(join(REPO, 'bench/results/boot.json'), `${JSON.stringify(result, null, 2)}\n`);
