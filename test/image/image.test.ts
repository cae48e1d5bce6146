// The SD image as a user holds it: built twice from the same inputs it is the same bytes; its
// layout (MBR, FAT boot partition with the Pi firmware, kernel, initrd, device trees, config.txt,
// cmdline.txt and a valid, commented gateway.toml; a read-only squashfs root with Node and our
// arm64 native code; an ext4 data partition); and the very image booted in an emulated machine
// (QEMU virt, the image as a virtio disk, two virtio NICs on taps in lab namespaces) forwards a
// LAN host's traffic to the WAN, its serial console answering `status`.

import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bootVirt } from '../lab/virt.js';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '..', '..', '..');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const NAME = `gateway-${VERSION}-rpi-arm64`;
const root = process.getuid?.() === 0;
const tools = ['sfdisk', 'mkfs.vfat', 'mcopy', 'mksquashfs', 'mke2fs', 'qemu-system-aarch64', 'aarch64-linux-gnu-gcc', 'unsquashfs', 'dumpe2fs'];
const missing = tools.filter((t) => {
  try {
    execFileSync('sh', ['-c', `PATH="$PATH:/usr/sbin:/sbin" command -v ${t}`], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
});
const why = !root ? 'needs root (taps and namespaces for the boot)' : missing.length > 0 ? `missing ${missing.join(', ')}` : undefined;
if (why !== undefined && process.env['CI'] === 'true') throw new Error(`image tests: ${why}`);
if (why !== undefined) console.log(`skipping image tests: ${why}`);
const imageTest = why === undefined ? test.serial : test.skip;

const dir = mkdtempSync(join(tmpdir(), 'gw-image-'));
const outA = join(dir, 'a');
const outB = join(dir, 'b');
const img = join(outA, `${NAME}.img`);

test.before(async (t) => {
  if (why !== undefined) return;
  t.timeout(900_000);
  const env = { ...process.env, SOURCE_DATE_EPOCH: '1767225600', PATH: `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin` };
  await run('sh', [join(REPO, 'image/build.sh'), outA], { env, maxBuffer: 1 << 24 });
  await run('sh', [join(REPO, 'image/build.sh'), outB], { env, maxBuffer: 1 << 24 });
});

test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const sh = (script: string): string => execFileSync('sh', ['-c', script], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin` } });

imageTest('the same inputs give the same bytes: image, .xz and their sha256 file', (t) => {
  const a = readFileSync(join(outA, `${NAME}.img.sha256`), 'utf8');
  t.is(a, readFileSync(join(outB, `${NAME}.img.sha256`), 'utf8'));
  t.regex(a, new RegExp(`^[0-9a-f]{64}  ${NAME}\\.img\\n[0-9a-f]{64}  ${NAME}\\.img\\.xz\\n$`), 'sha256sum format, file names without folders');
  t.notThrows(() => sh(`cd ${outA} && sha256sum -c --quiet ${NAME}.img.sha256`));
});

imageTest('layout: MBR with boot (FAT), root (squashfs) and data (ext4); a power-of-two size', (t) => {
  const size = Number(sh(`stat -c %s ${img}`));
  t.is(size & (size - 1), 0, `${size} bytes`);
  t.true(size <= 256 * 1024 * 1024);
  const table = JSON.parse(sh(`sfdisk --json ${img}`)) as { partitiontable: { id: string; partitions: { start: number; size: number; type: string; bootable?: boolean }[] } };
  t.is(table.partitiontable.id, '0x6a7e0a1e', 'the disk id the init finds its partitions by (PARTUUID)');
  t.deepEqual(table.partitiontable.partitions.map((p) => p.type), ['c', '83', '83']);
  const [boot, rootfs, data] = table.partitiontable.partitions;
  const fat = `${img}@@${boot!.start * 512}`;
  const files = sh(`mdir -b -i ${fat} ::/`).split('\n').map((l) => l.replace(/^::\//, '')).filter((l) => l !== '');
  for (const f of ['config.txt', 'cmdline.txt', 'gateway.toml', 'vmlinuz', 'initrd.img', 'bootcode.bin', 'start.elf', 'fixup.dat', 'start4.elf', 'bcm2837-rpi-3-b.dtb', 'bcm2837-rpi-3-b-plus.dtb', 'bcm2711-rpi-4-b.dtb', 'bcm2837-rpi-zero-2-w.dtb']) {
    t.true(files.includes(f), `${f} on the boot partition`);
  }
  t.regex(sh(`mtype -i ${fat} ::config.txt`), /^arm_64bit=1$[\s\S]*^enable_uart=1$/m);
  t.regex(sh(`mtype -i ${fat} ::cmdline.txt`), /gateway\.root=PARTUUID=6a7e0a1e-02/);
  const toml = join(dir, 'gateway.toml');
  writeFileSync(toml, sh(`mtype -i ${fat} ::gateway.toml`));
  t.is(sh(`${REPO}/node_modules/.bin/node ${REPO}/dist/firmware/main.js check --config ${toml}`), `${toml}: ok\n`);
  const text = readFileSync(toml, 'utf8');
  t.regex(text, /^interface = "eth0"$[\s\S]*^interface = "eth1"$/m, 'LAN eth0, WAN eth1');
  for (const key of ['tcp_timeout', 'max_flows', 'lcp_echo_interval', 'packet_ring', 'password', 'failures']) t.regex(text, new RegExp(`^# ${key} = `, 'm'), `${key} present and commented`);
  // The root: squashfs, with Node and our code for arm64.
  sh(`dd if=${img} of=${dir}/root.sq bs=512 skip=${rootfs!.start} count=${rootfs!.size} status=none`);
  const listing = sh(`unsquashfs -l -d "" ${dir}/root.sq`);
  for (const f of ['/usr/bin/node', '/sbin/gateway-init', '/opt/gateway/dist/firmware/main.js', '/opt/gateway/drivers/nic/addon/build/Release/packet_ring.node', '/opt/gateway/node_modules/raw-socket/build/Release/raw.node', '/opt/gateway/node_modules/epoll/build/Release/epoll.node', '/sbin/ip', '/bin/busybox']) {
    t.true(listing.includes(`\n${f}\n`), `${f} in the root`);
  }
  sh(`rm -rf ${dir}/r && unsquashfs -q -d ${dir}/r ${dir}/root.sq usr/bin/node opt/gateway/drivers/nic/addon/build/Release/packet_ring.node >/dev/null`);
  for (const f of ['usr/bin/node', 'opt/gateway/drivers/nic/addon/build/Release/packet_ring.node']) {
    const head = readFileSync(join(dir, 'r', f)).subarray(0, 20);
    t.is(head.readUInt16LE(18), 0xb7, `${f} is an arm64 ELF (e_machine AArch64)`);
  }
  sh(`dd if=${img} of=${dir}/data.ext4 bs=512 skip=${data!.start} count=${data!.size} status=none`);
  t.regex(sh(`dumpe2fs -h ${dir}/data.ext4 2>/dev/null`), /Filesystem volume name:\s+gwdata/);
  t.true(Number(sh(`stat -c %s ${img}.xz`)) < 80_000_000);
});

imageTest('the image boots in an emulated machine (virt) and forwards: a LAN host fetches a page from the WAN server; status answers on the console; a stopped gateway is started again', async (t) => {
  t.timeout(300_000);
  const vm = await bootVirt(img, dir, `im${process.pid % 10000}`);
  try {
    await vm.waitFor(/wan_address[^\n]*source=dhcp/, 180_000);
    t.log(`virt: QEMU start to the WAN address in ${(vm.elapsed() / 1000).toFixed(1)} s`);
    t.regex(vm.screen(), /gateway ready[\s\S]*gateway \(wan [a-z-]+\)> /, 'the console says "gateway ready", then its prompt ends in "> "');
    const page = execFileSync('ip', ['netns', 'exec', vm.lan, 'curl', '-sS', '--retry', '5', '--retry-all-errors', '--max-time', '10', 'http://203.0.113.1/index.html'], { encoding: 'utf8' });
    t.is(page, 'hello from the WAN\n');
    t.regex(readFileSync(join(dir, 'web.log'), 'utf8'), /^203\.0\.113\.5\d .*GET \/index\.html/m, 'the server sees the gateway\'s WAN address');
    const from = vm.screen().length;
    vm.type('status\r');
    await vm.waitFor(/WAN ethernet eth1: 203\.0\.113\.5\d\/24 via 203\.0\.113\.1 \(DHCP bound\)/, 20_000, from);
    // The supervisor brings the gateway back when it stops (here, asked to at the console).
    const before = vm.screen().length;
    vm.type('restart\r');
    await vm.waitFor(/gateway-init: the gateway stopped \(exit 75\)/, 30_000, before);
    const stoppedAt = vm.elapsed();
    await vm.waitFor(/gateway_started[\s\S]*wan_address[^\n]*source=dhcp/, 60_000, before);
    t.log(`back and forwarding ${((vm.elapsed() - stoppedAt) / 1000).toFixed(1)} s after it stopped`);
    const again = execFileSync('ip', ['netns', 'exec', vm.lan, 'curl', '-sS', '--retry', '5', '--retry-all-errors', '--max-time', '10', 'http://203.0.113.1/index.html'], { encoding: 'utf8' });
    t.is(again, 'hello from the WAN\n');
  } finally {
    vm.stop();
  }
});
