// The status LEDs: the status model's patterns per state with an injected clock (exact on/off
// sequences, nothing sleeps), README's LED table, and the LED driver against a temporary tree
// laid out like sysfs: the GPIO chip's base, export, direction, value, active-low, the board's
// own LEDs, a missing GPIO chip. onoff's GPIO root is fixed, so the pin tests run (as root) in
// a private mount namespace with the tree mounted over /sys/class.

import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bcmToGpio, openLeds } from '../../drivers/gpio/leds.js';
import { ManualClock } from '../../firmware/clock.js';
import { StatusLeds } from '../../firmware/status/leds-part.js';
import { levelAt, PATTERNS, renderLedTable, StatusModel, type Pattern } from '../../firmware/status/model.js';
import { ethernetFrame, ipPacket } from '../lib/packets.js';
import { world } from '../lib/parts.js';
import { arp, HOST_MAC, LAN_MAC, ROUTER_MAC, staticGateway, WAN_MAC } from '../lib/static-gateway.js';
import { ARP_REPLY } from '../../firmware/core/wire/arp.js';

const REPO = join(import.meta.dirname, '..', '..', '..');
const root = process.getuid?.() === 0;
if (!root && process.env['CI'] === 'true') throw new Error('the GPIO LED tests need root under CI');
if (!root) console.log('skipping the GPIO pin tests (onoff in a mount namespace): needs root');
const rootTest = root ? test : test.skip;

/** The level every 50 ms over `ms`, as a string of 1s and 0s. */
function trace(p: Pattern, ms: number): string {
  let s = '';
  for (let t = 0; t < ms; t += 50) s += levelAt(p, t) ? '1' : '0';
  return s;
}

test('blink codes: N blinks of 200 ms with 300 ms between, then 1.5 s dark, repeated', (t) => {
  for (const [p, n] of [[PATTERNS.wan.modemNotFound, 1], [PATTERNS.wan.noCarrier, 3], [PATTERNS.wan.authRefused, 4]] as const) {
    const period = n * 500 - 300 + 1500;
    t.is(trace(p, period + 300), '1111000000'.repeat(n - 1) + '1111' + '0'.repeat(30) + '111100', p.name);
  }
  const codes = (Object.values(PATTERNS.wan) as Pattern[]).filter((p) => p.steps.at(-1) === 1500).map((p) => p.steps.length / 2);
  t.deepEqual(codes, [1, 2, 3, 4, 5, 6, 7], 'each failure has its own number of blinks');
});

test('the model: boot, dialling, negotiating, up, a failure as its code, the watchdog, LAN activity', (t) => {
  const m = new StatusModel('lan0');
  const names = (now: number) => Object.values(m.patterns(now)).map((p) => p.name).join(' ');
  t.is(names(0), 'booting down down');
  m.apply(0, { kind: 'link', link: 'lan0', up: true, mtu: 1500 });
  m.apply(10, { kind: 'ready' });
  t.is(names(10), 'running down up');
  m.apply(20, { kind: 'wan', phase: 'dialling' });
  t.is(names(20), 'running dialling up');
  m.apply(30, { kind: 'wan', phase: 'negotiating' });
  t.is(names(30), 'running negotiating up');
  m.apply(40, { kind: 'wan', phase: 'holdoff', failure: 'auth-refused', message: 'PAP refused' });
  t.is(names(40), 'running auth-refused up');
  m.apply(50, { kind: 'wan', phase: 'holdoff', failure: 'busy' });
  t.is(names(50), 'running no-carrier up');
  m.apply(55, { kind: 'wan', phase: 'failed', failure: 'pin-refused' });
  t.is(names(55), 'running sim up');
  m.apply(60, { kind: 'wan', phase: 'waiting-dhcp' });
  t.is(names(60), 'running negotiating up');
  m.apply(70, { kind: 'wan', phase: 'up' });
  m.apply(80, { kind: 'watchdog', ok: false, host: '198.51.100.1', misses: 3 });
  t.is(names(80), 'running watchdog up');
  m.apply(90, { kind: 'watchdog', ok: true, host: '198.51.100.1', misses: 0 });
  m.apply(100, { kind: 'lan-activity' });
  t.is(names(100), 'running up activity');
  t.is(names(301), 'running up up', 'the flicker ends 200 ms after the last traffic');
  m.apply(400, { kind: 'config-error' });
  t.is(names(400), 'config-error up up');
});

test('the LAN LED shows a connected dial-in caller, and traffic over it as activity', (t) => {
  const m = new StatusModel('lan0');
  const lan = (now: number): string => m.patterns(now).lan.name;
  m.apply(0, { kind: 'link', link: 'lan0', up: true, mtu: 1500 });
  m.apply(10, { kind: 'dialin', calls: 1 });
  t.is(lan(10), 'caller');
  m.apply(20, { kind: 'lan-activity' });
  t.is(lan(20), 'activity');
  t.is(lan(300), 'caller');
  m.apply(400, { kind: 'link', link: 'lan0', up: false, mtu: 1500 });
  t.is(lan(400), 'caller', 'a caller is shown even with no cable on the LAN port');
  m.apply(500, { kind: 'dialin', calls: 0 });
  t.is(lan(500), 'down');
});

test('levels follow each pattern from the moment it is first shown', (t) => {
  const m = new StatusModel('lan0');
  const clock = new ManualClock();
  const seen: string[] = [];
  for (let i = 0; i < 6; i++) {
    seen.push(m.levels(clock.now()).status ? '1' : '0');
    clock.advance(100);
  }
  t.is(seen.join(''), '101010', 'booting: 100 ms on, 100 ms off');
  m.apply(clock.now(), { kind: 'wan', phase: 'holdoff', failure: 'modem-not-found' });
  const wan: string[] = [];
  for (let i = 0; i < 8; i++) {
    wan.push(m.levels(clock.now()).wan ? '1' : '0');
    clock.advance(250);
  }
  t.is(wan.join(''), '10000001', 'one blink of 200 ms, 1.5 s dark, and again');
});

test('README\'s LED table is the model\'s', (t) => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const start = readme.indexOf('| LED | pattern | meaning |');
  t.true(start >= 0, 'README has the LED table');
  const lines = readme.slice(start).split('\n');
  t.is(lines.slice(0, lines.findIndex((l) => !l.startsWith('|'))).join('\n'), renderLedTable());
});

/** A temporary tree laid out like the parts of sysfs the LEDs use (the 6.12 kernel's base, 512). */
function sysfs(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-sysfs-'));
  const chip = (name: string, label: string, base: number, ngpio: number): void => {
    mkdirSync(join(dir, 'class/gpio', name), { recursive: true });
    writeFileSync(join(dir, 'class/gpio', name, 'label'), `${label}\n`);
    writeFileSync(join(dir, 'class/gpio', name, 'base'), `${base}\n`);
    writeFileSync(join(dir, 'class/gpio', name, 'ngpio'), `${ngpio}\n`);
  };
  chip('gpiochip512', 'pinctrl-bcm2711', 512, 58);
  chip('gpiochip570', 'raspberrypi-exp-gpio', 570, 8);
  writeFileSync(join(dir, 'class/gpio/export'), '');
  writeFileSync(join(dir, 'class/gpio/unexport'), '');
  // Pins 17 and 27 as the kernel shows them once exported; 22 is left for our export to create.
  for (const n of [529, 539]) {
    mkdirSync(join(dir, 'class/gpio', `gpio${n}`));
    for (const [f, v] of [['value', '0'], ['direction', 'in'], ['active_low', '0'], ['edge', 'none']]) writeFileSync(join(dir, 'class/gpio', `gpio${n}`, f!), `${v}\n`);
  }
  for (const led of ['ACT', 'PWR']) {
    mkdirSync(join(dir, 'class/leds', led), { recursive: true });
    writeFileSync(join(dir, 'class/leds', led, 'trigger'), 'none [mmc0] timer heartbeat\n');
    writeFileSync(join(dir, 'class/leds', led, 'brightness'), '0\n');
    writeFileSync(join(dir, 'class/leds', led, 'max_brightness'), '255\n');
  }
  return dir;
}

test('BCM numbers map through the Pi pin controller\'s base (458 on 6.1, 512 on 6.12), not the firmware expander', (t) => {
  const dir = sysfs();
  try {
    t.is(bcmToGpio(dir, 17), 529);
    writeFileSync(join(dir, 'class/gpio/gpiochip512/base'), '458\n');
    t.is(bcmToGpio(dir, 17), 475);
    t.throws(() => bcmToGpio(dir, 60), { message: /beyond pinctrl-bcm2711's 58 pins/ });
    rmSync(join(dir, 'class/gpio/gpiochip512'), { recursive: true });
    t.throws(() => bcmToGpio(dir, 17), { message: /no Raspberry Pi GPIO chip/ });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the board\'s own LEDs: trigger none, brightness written, trigger restored on close; missing ones reported, not fatal', async (t) => {
  const dir = sysfs();
  try {
    const opened = await openLeds({ activeLow: false, onboard: true }, dir, new ManualClock(), () => {});
    t.deepEqual(opened.problems, []);
    const [pwr] = opened.leds.get('status')!;
    const [act] = opened.leds.get('wan')!;
    t.is(readFileSync(join(dir, 'class/leds/ACT/trigger'), 'utf8'), 'none');
    act!.set(true);
    pwr!.set(false);
    t.is(readFileSync(join(dir, 'class/leds/ACT/brightness'), 'utf8'), '255');
    t.is(readFileSync(join(dir, 'class/leds/PWR/brightness'), 'utf8'), '0');
    act!.close();
    t.is(readFileSync(join(dir, 'class/leds/ACT/trigger'), 'utf8'), 'mmc0');
    rmSync(join(dir, 'class/leds/PWR'), { recursive: true });
    const again = await openLeds({ activeLow: false, onboard: true, status: 17 }, join(dir, 'nothing-here'), new ManualClock(), () => {});
    t.is(again.leds.size, 0);
    t.is(again.problems.length, 3, again.problems.join('; '));
    t.regex(again.problems[0]!, /^status \(BCM 17\): /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

rootTest('GPIO pins through onoff: export, direction out, value, active-low, unexport on close', (t) => {
  const dir = sysfs();
  try {
    // Our driver exports BCM 22 (gpio534) and waits for its folder: a fake kernel makes it.
    const fakeKernel = `(while [ ! -s ${dir}/class/gpio/export ]; do sleep 0.01; done; mkdir -p ${dir}/class/gpio/gpio534; for f in value direction active_low edge; do echo 0 > ${dir}/class/gpio/gpio534/$f; done) &`;
    const run = (pins: object): Record<string, unknown> => JSON.parse(execFileSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
      `${fakeKernel} mount --bind ${dir}/class /sys/class && exec ${join(REPO, 'node_modules/.bin/node')} ${join(REPO, 'dist/test/lib/led-probe.js')} ${dir} '${JSON.stringify(pins)}'`], { encoding: 'utf8' })) as Record<string, unknown>;
    const r = run({ status: 17, wan: 27, lan: 22, activeLow: true, onboard: true });
    t.deepEqual(r['problems'], []);
    t.deepEqual(r['roles'], {
      status: ['status (BCM 17)=1,on-board PWR=255', 'status (BCM 17)=0,on-board PWR=0', 'status (BCM 17)=1,on-board PWR=255'],
      wan: ['wan (BCM 27)=1,on-board ACT=255', 'wan (BCM 27)=0,on-board ACT=0', 'wan (BCM 27)=1,on-board ACT=255'],
      lan: ['lan (BCM 22)=1', 'lan (BCM 22)=0', 'lan (BCM 22)=1'],
    });
    t.deepEqual(r['pins'], { 17: { direction: 'out', activeLow: '1' }, 27: { direction: 'out', activeLow: '1' }, 22: { direction: 'out', activeLow: '1' } });
    t.is(readFileSync(join(dir, 'class/gpio/export'), 'utf8'), '534', 'BCM 22 exported as the kernel numbers it');
    t.deepEqual(r['triggers'], { ACT: 'none', PWR: 'none' });
    t.regex(String(r['unexported']), /^5(29|39|34)$/);
    t.deepEqual(r['afterClose'], { ACT: 'mmc0' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the leds command reads each LED back from sysfs, and the status LEDs are written down for the supervisor', async (t) => {
  const dir = sysfs();
  const w = world();
  const downFile = join(dir, 'run/status-leds');
  const leds = new StatusLeds({ activeLow: false, onboard: true }, { sysRoot: dir, lanLink: 'eth0', downFile });
  try {
    await leds.start(w.ctx);
    w.clock.advance(50);
    t.is(readFileSync(downFile, 'utf8'), `led ${join(dir, 'class/leds/PWR')}\n`, 'the status role\'s LEDs only');
    const shown = await w.ctx.commands.run('leds', []);
    if (!shown.ok) return t.fail(shown.error);
    t.regex(shown.text, /^status: booting: on-board PWR=(0|255)$/m);
    t.regex(shown.text, /^wan: down: on-board ACT=0$/m);
    t.regex(shown.text, /^lan: down: no LED$/m);
    writeFileSync(join(dir, 'class/leds/ACT/brightness'), '255\n');
    const again = await w.ctx.commands.run('leds', []);
    t.regex(again.ok ? again.text : '', /^wan: down: on-board ACT=255$/m, 'what the kernel says, not what we last wrote');
  } finally {
    leds.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('steady LEDs hold no timer while no traffic flows; the next batch of frames wakes them, traffic flickers the LAN LED, then they sleep again', async (t) => {
  const dir = sysfs();
  const w = await staticGateway();
  const leds = new StatusLeds({ activeLow: false, onboard: true }, { sysRoot: dir, lanLink: 'lan0' });
  try {
    const before = w.clock.timers;
    await leds.start(w.ctx);
    // What the LAN port said before the LEDs were started (the gateway starts them first).
    w.events.emit({ kind: 'link', link: 'lan0', up: true, mtu: 1500 });
    w.events.emit({ kind: 'ready' });
    w.events.emit({ kind: 'wan', phase: 'up' });
    await w.clock.run(200);
    t.deepEqual(leds.status().showing, { status: 'running', wan: 'up', lan: 'up' });
    t.is(w.clock.timers, before, 'steady: the LEDs play no frames');
    await w.clock.run(5000);
    t.is(w.clock.timers, before);

    w.ring.inject('wan0', arp(ARP_REPLY, ROUTER_MAC, '203.0.113.1', WAN_MAC, '203.0.113.2'));
    t.is(w.clock.timers, before + 1, 'a batch of frames wakes them');
    await w.clock.run(200);
    t.is(leds.status().showing.lan, 'up', 'an ARP reply is not traffic through the gateway');
    t.is(w.clock.timers, before, 'and they sleep again');

    const out = ethernetFrame(LAN_MAC, HOST_MAC, ipPacket({ proto: 'udp', src: '192.168.0.100', dst: '198.51.100.7', sport: 5000, dport: 53 }));
    w.ring.inject('lan0', out);
    await w.clock.run(50);
    t.is(leds.status().showing.lan, 'activity', 'a datagram masqueraded: the LAN LED flickers');
    for (let i = 0; i < 10; i++) {
      w.ring.inject('lan0', out);
      await w.clock.run(100);
      t.is(leds.status().showing.lan, 'activity', 'while traffic flows');
    }
    await w.clock.run(400);
    t.is(leds.status().showing.lan, 'up');
    t.is(w.clock.timers, before, 'quiet again: no timer');

    w.events.emit({ kind: 'wan', phase: 'dialling' });
    t.is(w.clock.timers, before + 1, 'a blinking pattern plays frames');
    await w.clock.run(1000);
    t.is(w.clock.timers, before + 1);
  } finally {
    leds.stop();
    w.datapath.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with no LED driven, a blinking pattern plays no frames, and traffic is still reported as the LAN LED\'s activity', async (t) => {
  const w = await staticGateway();
  const leds = new StatusLeds({ activeLow: false, onboard: true }, { sysRoot: '/nonexistent', lanLink: 'lan0' });
  try {
    const before = w.clock.timers;
    await leds.start(w.ctx);
    w.events.emit({ kind: 'link', link: 'lan0', up: true, mtu: 1500 });
    w.events.emit({ kind: 'wan', phase: 'dialling' });
    await w.clock.run(500);
    t.is(leds.status().showing.wan, 'dialling');
    t.is(w.clock.timers, before, 'nothing to blink');
    w.ring.inject('wan0', arp(ARP_REPLY, ROUTER_MAC, '203.0.113.1', WAN_MAC, '203.0.113.2'));
    w.ring.inject('lan0', ethernetFrame(LAN_MAC, HOST_MAC, ipPacket({ proto: 'udp', src: '192.168.0.100', dst: '198.51.100.7', sport: 5000, dport: 53 })));
    await w.clock.run(50);
    t.is(leds.status().showing.lan, 'activity');
    await w.clock.run(500);
    t.is(leds.status().showing.lan, 'up');
    t.is(w.clock.timers, before);
  } finally {
    leds.stop();
    w.datapath.stop();
  }
});

test('while the gateway is down, image/down-led blinks the internal-error code on the LEDs it wrote down (a pin left unexported is exported again)', async (t) => {
  const dir = sysfs();
  const file = join(dir, 'status-leds');
  // BCM 22 (gpio534) is not exported (the gateway unexported it on its way out): a fake kernel
  // makes its folder when the export file is written.
  writeFileSync(file, `gpio 534 1\nled ${join(dir, 'class/leds/PWR')}\n`);
  const gpio = join(dir, 'class/gpio/gpio534');
  const kernel = setInterval(() => {
    if (readFileSync(join(dir, 'class/gpio/export'), 'utf8').trim() !== '534' || existsSync(gpio)) return;
    mkdirSync(gpio);
    for (const f of ['value', 'direction', 'active_low']) writeFileSync(join(gpio, f), '0\n');
  }, 5);
  const blinker = spawn('sh', [join(REPO, 'image/down-led'), file], { env: { ...process.env, SYS: dir }, stdio: 'ignore' });
  try {
    const seen = { gpio: new Set<string>(), pwr: new Set<string>() };
    for (let i = 0; i < 400 && (seen.gpio.size < 2 || seen.pwr.size < 2); i++) {
      await new Promise((r) => setTimeout(r, 50));
      seen.gpio.add(readFileSync(join(gpio, 'value'), 'utf8').trim());
      seen.pwr.add(readFileSync(join(dir, 'class/leds/PWR/brightness'), 'utf8').trim());
    }
    t.deepEqual([...seen.gpio].sort(), ['0', '1'], 'the pin blinks');
    t.deepEqual([...seen.pwr].sort(), ['0', '1'], 'the board LED blinks');
    t.is(readFileSync(join(gpio, 'direction'), 'utf8').trim(), 'out');
    t.is(readFileSync(join(gpio, 'active_low'), 'utf8').trim(), '1', 'active-low as the config said');
    t.is(readFileSync(join(dir, 'class/leds/PWR/trigger'), 'utf8').trim(), 'none');
    t.is(PATTERNS.status.internalError.steps.length, 10, 'the code down-led blinks is the model\'s 5 blinks');
  } finally {
    clearInterval(kernel);
    blinker.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
