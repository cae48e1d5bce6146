// The SD image as a user holds it: built twice from the same inputs it is the same bytes; its
// layout (MBR, FAT boot partition with the Pi firmware, kernel, initrd, device trees, config.txt,
// cmdline.txt and a valid, commented gateway.toml; a read-only squashfs root with Node and our
// arm64 native code; an ext4 data partition); and the very image booted in an emulated machine
// (QEMU virt, the image as a virtio disk, two virtio NICs on taps in lab namespaces) forwards a
// LAN host's traffic to the WAN, its serial console answering `status`.

import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { IspGuest } from '../lab/isp.js';
import { ModemEmulator } from '../lab/modem-emulator.js';
import { ISP_ADDRESS } from '../lab/ppp-lab.js';
import { bootPi, copyImage, readBootFile, writeBootFile, type PiLab } from '../lab/virt.js';

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
  // Raspberry Pi Imager's custom repository entry, beside them, the same bytes too.
  const manifest = readFileSync(join(outA, `${NAME}.json`), 'utf8');
  t.is(manifest, readFileSync(join(outB, `${NAME}.json`), 'utf8'));
  const [entry] = (JSON.parse(manifest) as { os_list: Record<string, unknown>[] }).os_list;
  const [imgSum, xzSum] = a.split('\n').map((l) => l.split(' ')[0]);
  t.like(entry, {
    url: `${NAME}.img.xz`, extract_sha256: imgSum, image_download_sha256: xzSum, release_date: '2026-01-01',
    extract_size: Number(sh(`stat -c %s ${img}`)), image_download_size: Number(sh(`stat -c %s ${img}.xz`)), devices: ['pi3-64bit', 'pi4-64bit'],
  });
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
  t.regex(text, /^interface = "eth0"$[\s\S]*^type = "ethernet"$[\s\S]*^# interface = "eth1"$[\s\S]*^# address = "dhcp"$/m, 'LAN eth0; an Ethernet WAN on eth1 by DHCP (the defaults)');
  for (const key of ['tcp_timeout', 'max_flows', 'lcp_echo_interval', 'packet_ring', 'password', 'failures']) t.regex(text, new RegExp(`^# ${key} = `, 'm'), `${key} present and commented`);
  // The root: squashfs, with Node and our code for arm64.
  sh(`dd if=${img} of=${dir}/root.sq bs=512 skip=${rootfs!.start} count=${rootfs!.size} status=none`);
  const listing = sh(`unsquashfs -l -d "" ${dir}/root.sq`);
  for (const f of ['/bin/ss', '/sbin/tc', '/usr/sbin/ethtool']) t.false(listing.includes(`\n${f}\n`), `no ${f}: the gateway configures interfaces itself, no iproute2 or ethtool`);
  for (const f of ['/usr/bin/node', '/sbin/gateway-init', '/opt/gateway/gateway.mjs', '/sbin/down-led', '/opt/gateway/drivers/nic/addon/build/Release/packet_ring.node', '/opt/gateway/node_modules/raw-socket/build/Release/raw.node', '/opt/gateway/node_modules/epoll/build/Release/epoll.node', '/bin/busybox', '/sbin/reboot']) {
    t.true(listing.includes(`\n${f}\n`), `${f} in the root`);
  }
  sh(`rm -rf ${dir}/r && unsquashfs -q -d ${dir}/r ${dir}/root.sq usr/bin/node opt/gateway/drivers/nic/addon/build/Release/packet_ring.node >/dev/null`);
  for (const f of ['usr/bin/node', 'opt/gateway/drivers/nic/addon/build/Release/packet_ring.node']) {
    const head = readFileSync(join(dir, 'r', f)).subarray(0, 20);
    t.is(head.readUInt16LE(18), 0xb7, `${f} is an arm64 ELF (e_machine AArch64)`);
  }
  sh(`dd if=${img} of=${dir}/data.ext4 bs=512 skip=${data!.start} count=${data!.size} status=none`);
  t.regex(sh(`dumpe2fs -h ${dir}/data.ext4 2>/dev/null`), /Filesystem volume name:\s+gwdata/);
  t.true(Number(sh(`stat -c %s ${img}.xz`)) <= 60_000_000, 'at most 60 MB as .xz');
});

imageTest('the image boots in an emulated machine (virt) and forwards: a LAN host fetches a page from the WAN server; status answers on the console; a stopped gateway is started again', async (t) => {
  t.timeout(300_000);
  const disk = join(dir, 'virt.img');
  copyImage(img, disk);
  const vm = await bootPi('virt', disk, dir, `im${process.pid % 10000}`);
  try {
    await vm.waitFor(/wan_address[^\n]*source=dhcp/, 180_000);
    t.log(`virt: QEMU start to the WAN address in ${(vm.elapsed() / 1000).toFixed(1)} s`);
    // The lease may be logged before the gateway's own "ready" line (DHCP is quick): wait for both.
    const ready = /gateway ready[\s\S]*gateway \(wan [a-z-]+\)> /;
    await vm.waitFor(ready, 30_000).catch(() => undefined);
    t.regex(vm.screen(), ready, 'the console says "gateway ready", then its prompt ends in "> "');
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
    // Started, and the WAN's address taken again: in either order, as DHCP runs during the start.
    await vm.waitFor(/gateway_started/, 60_000, before);
    await vm.waitFor(/wan_address[^\n]*source=dhcp/, 60_000, before);
    t.log(`back and forwarding ${((vm.elapsed() - stoppedAt) / 1000).toFixed(1)} s after it stopped`);
    const again = execFileSync('ip', ['netns', 'exec', vm.lan, 'curl', '-sS', '--retry', '5', '--retry-all-errors', '--max-time', '10', 'http://203.0.113.1/index.html'], { encoding: 'utf8' });
    t.is(again, 'hello from the WAN\n');
  } finally {
    await vm.stop();
    rmSync(disk, { force: true });
  }
});

imageTest('plugging in under virt: the WAN\'s USB network adapter plugged in after boot is taken ("WAN not found" until then), pulled out is let go, plugged back is taken again, forwarding each time', async (t) => {
  t.timeout(300_000);
  const disk = join(dir, 'hotplug.img');
  copyImage(img, disk);
  const vm = await bootPi('virt', disk, dir, `ih${process.pid % 10000}`, { wan: 'usb' });
  const fetch = (): string => execFileSync('ip', ['netns', 'exec', vm.lan, 'curl', '-sS', '--retry', '5', '--retry-all-errors', '--max-time', '10', 'http://203.0.113.1/index.html'], { encoding: 'utf8' });
  try {
    await vm.waitFor(/wan_not_found[^\n]*interface=eth1/, 180_000);
    await vm.waitFor(/gateway \(wan not-found[^)]*\)> /, 30_000);
    let from = vm.screen().length;
    vm.type('status\r');
    await vm.waitFor(/WAN ethernet eth1: not found/, 20_000, from);
    from = vm.screen().length;
    await vm.plugWan();
    await vm.waitFor(/wan_address[^\n]*source=dhcp/, 60_000, from);
    t.is(fetch(), 'hello from the WAN\n', 'forwarding once the adapter is plugged in');
    from = vm.screen().length;
    await vm.unplugWan();
    await vm.waitFor(/wan_lost[^\n]*interface=eth1/, 30_000, from);
    await vm.waitFor(/gateway \(wan not-found: interface-lost\)> /, 10_000, from);
    from = vm.screen().length;
    await vm.plugWan();
    await vm.waitFor(/wan_address[^\n]*source=dhcp/, 60_000, from);
    t.is(fetch(), 'hello from the WAN\n', 'and again after it came back');
    t.notRegex(vm.screen(), /gateway-init: the gateway stopped/, 'the gateway never stopped');
  } finally {
    await vm.stop();
    rmSync(disk, { force: true });
  }
});

imageTest('over PPP under virt: gateway.toml edited on the FAT partition for a modem on /dev/ttyS0 (a pci-serial port wired to the modem emulator): the gateway dials, PPP comes up with the ISP guest, a LAN host fetches the ISP\'s page', async (t) => {
  t.timeout(400_000);
  const disk = join(dir, 'ppp.img');
  copyImage(img, disk);
  // As a user would: the FAT's gateway.toml, [wan] switched to PPP (a three-wire port: no DCD).
  const toml = readBootFile(disk, 'gateway.toml')
    .replace(/^type = "ethernet"$/m, 'type = "ppp"')
    .replace(/^\[modem\]$/m, '[modem]\ndevice = "/dev/ttyS0"\nflow_control = "none"\ninit = ["ATZ", "ATE0V1"]\ndial = "ATDT5551234"')
    .replace(/^\[ppp\]$/m, '[ppp]\nuser = "gateway"\npassword = "s3cret"');
  writeBootFile(disk, 'gateway.toml', toml, dir);
  const ispDir = join(dir, 'isp');
  mkdirSync(ispDir, { recursive: true });
  const guest = await IspGuest.start(ispDir);
  const modem = new ModemEmulator({ dir: ispDir, bps: 4_000_000, guest });
  let vm: PiLab | undefined;
  try {
    await modem.start();
    vm = await bootPi('virt', disk, dir, `ip${process.pid % 10000}`, { serial: modem.device });
    await vm.waitFor(/wan_address[^\n]*address=10\.64\.0\.2\/32[^\n]*source=ipcp/, 240_000);
    t.log(`virt over PPP: QEMU start to the WAN address in ${(vm.elapsed() / 1000).toFixed(1)} s`);
    t.true(modem.transcript.some((l) => l.line === 'ATDT5551234'), 'the gateway dialled the emulated modem');
    t.regex(guest.console(), /PAP peer authentication succeeded for gateway/);
    let from = vm.screen().length;
    vm.type('status\r');
    await vm.waitFor(/WAN ppp: up \(PPP network\) 10\.64\.0\.2 peer 10\.64\.0\.1[^\n]*modem \/dev\/ttyS0/, 20_000, from);
    // The modem emulator runs in this process: the fetch must not block it (no execFileSync here).
    const page = await run('ip', ['netns', 'exec', vm.lan, 'curl', '-sS', '--retry', '5', '--retry-all-errors', '--max-time', '20', `http://${ISP_ADDRESS}/`], { encoding: 'utf8' });
    t.regex(page.stdout, /hello from the ISP/, 'a LAN host reaches the ISP through the emulated Pi\'s PPP link');
    // And the gateway's own traffic (the console's ping, through the host link and the masquerade).
    from = vm.screen().length;
    vm.type(`ping ${ISP_ADDRESS}\r`);
    await vm.waitFor(/[1-9] of \d+ answered by 10\.64\.0\.1/, 60_000, from);
  } finally {
    await vm?.stop();
    modem.stop();
    guest.stop();
    rmSync(disk, { force: true });
  }
});

imageTest('the real board\'s model (raspi3b): a config error on the FAT partition shows on the console and the LEDs and touches nothing on the network; fixed from a PC, the next boot starts the gateway, its LEDs\' GPIOs follow its state', async (t) => {
  t.timeout(900_000);
  const disk = join(dir, 'raspi.img');
  copyImage(img, disk);
  const good = readBootFile(disk, 'gateway.toml').replace(/^\[leds\]$/m, '[leds]\nstatus = 17\nwan = 27\nlan = 22');
  const broken = good.replace(/^address = "192\.168\.0\.1\/24"$/m, 'address = "192.168.0.1/33"');
  const brokenLine = broken.split('\n').indexOf('address = "192.168.0.1/33"') + 1;
  writeBootFile(disk, 'gateway.toml', broken, dir);
  let pi = await bootPi('raspi3b', disk, dir, `ir${process.pid % 10000}`);
  try {
    await pi.waitFor(/gateway \(config error\)> /, 300_000);
    t.log(`raspi3b: QEMU start to the prompt (config error) in ${(pi.elapsed() / 1000).toFixed(1)} s`);
    t.regex(pi.screen(), /Linux version|Booting Linux|\[\s*\d+\.\d+\]/, 'the kernel\'s log came first on the same console');
    t.regex(pi.screen(), new RegExp(`/boot/gateway\\.toml:${brokenLine}: lan\\.address`), 'the error, with its line');
    let from = pi.screen().length;
    pi.type('leds\r');
    await pi.waitFor(/status: config-error: status \(BCM 17\)=[01]/, 30_000, from);
    from = pi.screen().length;
    pi.type('config check\r');
    await pi.waitFor(new RegExp(`gateway\\.toml:${brokenLine}: lan\\.address`), 30_000, from);
    t.is(pi.wanBytesFromGuest(), 0, 'not a byte on the WAN');
  } finally {
    await pi.stop();
  }
  // Fixed on a PC (the SD card taken out), then powered on again; the WAN's DHCP server answers late.
  writeBootFile(disk, 'gateway.toml', good, dir);
  pi = await bootPi('raspi3b', disk, dir, `ir${process.pid % 10000}`, { dhcp: false });
  try {
    await pi.waitFor(/gateway \(wan waiting-dhcp\)> /, 300_000);
    t.log(`raspi3b: QEMU start to the prompt in ${(pi.elapsed() / 1000).toFixed(1)} s (second boot)`);
    t.regex(pi.screen(), /Pi masquerading gateway console/);
    /** The WAN LED's level, as `leds` reads it back from sysfs. */
    const wanLed = async (): Promise<{ pattern: string; level: string }> => {
      const from = pi.screen().length;
      pi.type('leds\r');
      const re = /wan: ([a-z-]+): wan \(BCM 27\)=([01])/;
      await pi.waitFor(re, 30_000, from);
      const m = re.exec(pi.screen().slice(from))!;
      return { pattern: m[1]!, level: m[2]! };
    };
    const waiting = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const led = await wanLed();
      t.is(led.pattern, 'negotiating', 'waiting for DHCP: the fast blink');
      waiting.add(led.level);
    }
    t.deepEqual([...waiting].sort(), ['0', '1'], 'the WAN LED\'s GPIO blinks while DHCP is awaited');
    pi.startDhcp();
    // The client's retransmissions are 64 s apart by now (RFC 2131 §4.1): one DISCOVER may come
    // just before dnsmasq listens, and the next a minute later.
    await pi.waitFor(/wan_address[^\n]*source=dhcp/, 200_000).catch(async (e: Error) => {
      // What the gateway says of its links and DHCP client, for whoever reads the failure.
      const from = pi.screen().length;
      pi.type('status\r');
      await pi.waitFor(/WAN /, 30_000, from).catch(() => undefined);
      throw new Error(`${e.message.split('\n')[0]}; then status said:\n${pi.screen().slice(from)}`);
    });
    for (let i = 0; i < 3; i++) t.deepEqual(await wanLed(), { pattern: 'up', level: '1' }, 'WAN up: steady on');
    let from = pi.screen().length;
    pi.type('leds\r');
    await pi.waitFor(/status: running: status \(BCM 17\)=1/, 30_000, from);
    from = pi.screen().length;
    pi.type('status\r');
    await pi.waitFor(/WAN ethernet eth1: 203\.0\.113\.5\d\/24 via 203\.0\.113\.1 \(DHCP bound\)/, 30_000, from);
    const page = execFileSync('ip', ['netns', 'exec', pi.lan, 'curl', '-sS', '--retry', '5', '--retry-all-errors', '--max-time', '20', 'http://203.0.113.1/index.html'], { encoding: 'utf8' });
    t.is(page, 'hello from the WAN\n', 'forwarding through the emulated Pi 3');
  } finally {
    await pi.stop();
    rmSync(disk, { force: true });
  }
});
