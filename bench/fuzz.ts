// The fuzz harness (`make fuzz`, also run by `make bench`): hostile input at full speed through
// each parser that faces the outside, under the heap limits `gateway run` uses.
//   core:   10 million frames (test/lib/frame-fuzz.ts: valid flows both ways, mutated, cut short,
//           random, fragments, ICMP errors quoting garbage, ARP oddities, VLAN EtherTypes; every
//           application helper on, and their commands among the payloads), with
//           the core's own output reflected back as replies; no exception, every frame accounted
//           for (one outcome each), the flow table's invariants, resident memory sampled.
//   hdlc:   random line bytes and mutated frames through the RFC 1662 decoder.
//   ppp:    mutated frames of a real negotiation (LCP, PAP, CHAP, IPCP, IP) into a dialling
//           session and an answering one, and random bytes; restarted whenever one ends.
//   config: mutated gateway.toml files: never a stack trace, every error `FILE:LINE: ...`.
// Writes bench/results/fuzz.json; exits 1 if any check failed.
//   node dist/bench/fuzz.js [--frames N]

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import { Lab, WAN, WAN_MAC, ROUTER_MAC } from '../test/lib/lab.js';
import { accountingError, FrameFuzzer, HELPER_PORTS } from '../test/lib/frame-fuzz.js';
import { ethernetFrame, ipPacket } from '../test/lib/packets.js';
import { ensureHeapLimits } from '../firmware/heap.js';
import { formatConfigError, parseConfig } from '../firmware/config/schema.js';
import { gatewayToml } from '../build/gateway-toml.js';
import { parseIpv4 } from '../firmware/core/addr.js';
import { xorshiftRng } from '../firmware/core/nat/ports.js';
import { HdlcDecoder, HdlcEncoder } from '../drivers/ppp/hdlc.js';
import { PppSession, type PppSessionConfig } from '../drivers/ppp/session.js';

ensureHeapLimits();
const REPO = resolve(import.meta.dirname, '../..');
const { values } = parseArgs({ options: { frames: { type: 'string', default: '10000000' } } });
const FRAMES = Number(values.frames);
const failures: string[] = [];
const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;
const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

// ------------------------------------------------------------------------------------------
// The core.

function fuzzCore(): Record<string, unknown> {
  const fuzz = new FrameFuzzer(20261202);
  const lab = new Lab((o) => { o.helpers = HELPER_PORTS; });
  for (let h = 2; h < 22; h++) lab.lanHost(`192.168.0.${h}`);
  const core = lab.core;
  const wan = core.interfaces[WAN]!.tx;
  const rss: number[] = [];
  let exceptions = 0;
  let reflected = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < FRAMES; i++) {
    const { iface, frame } = fuzz.next();
    try {
      core.receive(lab.now, iface, frame);
      // Now and then the last frame sent to the WAN comes back with its addresses and ports
      // swapped (checksums stay right): replies that hit live flows.
      if (wan.count > 0 && (i & 3) === 0) {
        const back = reflect(wan.frames[wan.count - 1]!.slice(wan.starts[wan.count - 1]!, wan.ends[wan.count - 1]!));
        wan.clear();
        if (back !== undefined) {
          reflected++;
          core.receive(lab.now, WAN, back);
        }
      }
    } catch (e) {
      if (exceptions++ < 5) failures.push(`core: frame ${i} threw ${(e as Error).stack}`);
    }
    for (const x of core.interfaces) x.tx.clear();
    if (i % 1000 === 999) {
      lab.now += 50;
      core.tick(lab.now);
      // What the helpers expect arrives now and then: the expected connections' path too.
      for (const e of core.hooks.list(lab.now).slice(0, 4)) {
        const [remote, remotePort] = e.remote.split(':');
        const spec = { proto: e.protocol as 'tcp' | 'udp', src: remote === '*' ? '198.51.100.77' : remote!, dst: '203.0.113.2', sport: remotePort === '*' ? 20 : Number(remotePort), dport: Number(e.outside.split(':')[1]), flags: 'S' };
        core.receive(lab.now, WAN, ethernetFrame(WAN_MAC, ROUTER_MAC, ipPacket(spec)));
      }
    }
    if (i % 1_000_000 === 999_999) rss.push(mb(process.memoryUsage().rss));
  }
  const elapsed = seconds(t0);
  const frames = core.counters.frames();
  const accounting = accountingError(frames);
  if (accounting !== undefined) failures.push(`core: ${accounting}`);
  const table = core.table.checkInvariants();
  if (table !== undefined) failures.push(`core: flow table: ${table}`);
  const snap = core.snapshot();
  return {
    frames: frames.received, reflectedReplies: reflected, seconds: Math.round(elapsed * 10) / 10, framesPerSecond: Math.round(frames.received / elapsed),
    exceptions, accounting: accounting ?? 'every frame has one outcome', outcomes: frames, flowsAtEnd: snap.conntrack.flows,
    translated: { original: snap.translations.original, reply: snap.translations.reply, newFlows: snap.translations.newMasqueradeFlows, icmpErrorsTranslated: snap.translations.icmpErrorsTranslated, reassembled: snap.translations.fragmentsReassembled },
    helpers: snap.helpers.counters,
    rssMbPerMillionFrames: rss,
  };
}

/** A WAN frame turned around: MACs, IP addresses and ports swapped (the sums are unchanged). */
function reflect(f: Uint8Array): Uint8Array | undefined {
  if (f.length < 34 || f[12] !== 0x08 || f[13] !== 0x00) return undefined;
  const b = f.slice();
  b.set(WAN_MAC, 0);
  b.set(ROUTER_MAC, 6);
  const ip = 14;
  const swap = (a: number, c: number, n: number) => {
    for (let k = 0; k < n; k++) [b[a + k], b[c + k]] = [b[c + k]!, b[a + k]!];
  };
  swap(ip + 12, ip + 16, 4);
  const ihl = (b[ip]! & 15) * 4;
  if (b[ip + 9] !== 1 && b.length >= ip + ihl + 4) swap(ip + ihl, ip + ihl + 2, 2);
  return b;
}

// ------------------------------------------------------------------------------------------
// HDLC and the PPP session.

function fuzzHdlc(rng: () => number): Record<string, unknown> {
  let exceptions = 0;
  const d = new HdlcDecoder(1500, () => {});
  const e = new HdlcEncoder();
  const line = new Uint8Array(HdlcEncoder.maxLength(1600) * 4);
  const t0 = process.hrtime.bigint();
  let chunks = 0;
  let bytes = 0;
  for (let i = 0; i < 1_000_000; i++) {
    let n: number;
    if (rng() % 2 === 0) {
      n = 1 + (rng() % 512);
      for (let k = 0; k < n; k++) line[k] = rng() & 0xff;
    } else {
      const info = new Uint8Array(rng() % 1600);
      for (let k = 0; k < info.length; k += 7) info[k] = rng() & 0xff;
      n = e.encode(rng() & 0xffff, info, 0, info.length, line, 0);
      for (let f = rng() % 4; f > 0; f--) line[rng() % n] = rng() & 0xff;
    }
    try {
      d.push(line, 0, n);
    } catch (err) {
      if (exceptions++ < 5) failures.push(`hdlc: chunk ${i} threw ${(err as Error).stack}`);
    }
    chunks++;
    bytes += n;
  }
  return { chunks, megabytes: mb(bytes), seconds: Math.round(seconds(t0) * 10) / 10, exceptions, counters: d.counters };
}

interface Recorded { protocol: number; info: Uint8Array }

function sessionConfig(seed: number, role: 'dial' | 'answer'): PppSessionConfig {
  const rng = xorshiftRng(Uint32Array.of(seed, 7, 8, 9));
  return role === 'dial'
    ? { user: 'gateway', password: 's3cret', mru: 1500, echoIntervalMs: 1000, echoFailures: 3, rng }
    : {
      user: '', password: '', mru: 1500, echoIntervalMs: 1000, echoFailures: 3, rng,
      authenticateCaller: { protocol: seed % 2 === 0 ? 'chap' : 'pap', name: 'isp', secrets: (n) => (n === 'gateway' ? 's3cret' : undefined) },
      ipcp: { localAddress: parseIpv4('10.64.0.1'), peerAddress: parseIpv4('10.64.0.2'), requestDns: false, dnsForPeer: [parseIpv4('10.64.0.53')] },
    };
}

function newSession(config: PppSessionConfig, onEnd: () => void): PppSession {
  return new PppSession(config, { ipUp: () => {}, ipDown: () => {}, datagram: () => {}, authFailed: () => {}, callerAuthenticated: () => {}, ended: onEnd, note: () => {} });
}

/** The frames each side sends in a good call (PAP and CHAP), decoded: the seeds to mutate. */
function recordCalls(): { fromDialler: Recorded[]; fromAnswerer: Recorded[] } {
  const fromDialler: Recorded[] = [];
  const fromAnswerer: Recorded[] = [];
  for (const seed of [1, 2]) {
    const dial = newSession(sessionConfig(seed, 'dial'), () => {});
    const answer = newSession(sessionConfig(seed, 'answer'), () => {});
    const decoder = (into: Recorded[]) => {
      const dec = new HdlcDecoder(1500, (protocol, b, s, e) => into.push({ protocol, info: b.slice(s, e) }));
      dec.setAccm(0);
      return dec;
    };
    const dd = decoder(fromDialler);
    const ad = decoder(fromAnswerer);
    dial.start(0);
    answer.start(0);
    for (let round = 0; round < 50; round++) {
      const a = dial.takeOutput();
      const b = answer.takeOutput();
      dd.push(a, 0, a.length);
      ad.push(b, 0, b.length);
      answer.receive(0, a);
      dial.receive(0, b);
    }
    const ip = new Uint8Array(60);
    ip[0] = 0x45;
    dial.sendDatagram(ip, 0, ip.length);
    const out = dial.takeOutput();
    dd.push(out, 0, out.length);
  }
  return { fromDialler, fromAnswerer };
}

function fuzzPpp(rng: () => number): Record<string, unknown> {
  const { fromDialler, fromAnswerer } = recordCalls();
  let exceptions = 0;
  let frames = 0;
  let sessions = 0;
  const encoder = new HdlcEncoder();
  const line = new Uint8Array(HdlcEncoder.maxLength(2000));
  const t0 = process.hrtime.bigint();
  for (const [role, seeds] of [['dial', fromAnswerer], ['answer', fromDialler]] as const) {
    let now = 0;
    let ended = false;
    let victim = newSession(sessionConfig(sessions, role), () => (ended = true));
    victim.start(now);
    for (let i = 0; i < 500_000; i++) {
      const seed = seeds[rng() % seeds.length]!;
      let n: number;
      if (rng() % 16 === 0) {
        n = 1 + (rng() % 300);
        for (let k = 0; k < n; k++) line[k] = rng() & 0xff;
      } else {
        const info = seed.info.slice(0, rng() % 8 === 0 ? rng() % (seed.info.length + 1) : seed.info.length);
        for (let f = rng() % 4; f > 0 && info.length > 0; f--) info[rng() % info.length] = rng() & 0xff;
        const protocol = rng() % 32 === 0 ? rng() & 0xffff : seed.protocol;
        n = encoder.encode(protocol, info, 0, info.length, line, 0);
      }
      try {
        victim.receive(now, line, 0, n);
        victim.takeOutput();
        if (i % 20 === 19) {
          now += 500;
          victim.tick(now);
          victim.takeOutput();
        }
      } catch (err) {
        if (exceptions++ < 5) failures.push(`ppp (${role}): frame ${i} threw ${(err as Error).stack}`);
      }
      frames++;
      if (ended || i % 5000 === 4999) {
        sessions++;
        ended = false;
        victim = newSession(sessionConfig(sessions, role), () => (ended = true));
        victim.start(now);
      }
    }
  }
  return { frames, sessions, seconds: Math.round(seconds(t0) * 10) / 10, exceptions };
}

// ------------------------------------------------------------------------------------------
// The config reader.

const CONFIG_SEEDS = [
  gatewayToml(),
  '[lan]\ninterface = "eth0"\naddress = "192.168.0.1/24"\n\n[wan]\ntype = "ppp"\n\n[modem]\ndevice = "/dev/ttyUSB0"\nbaud = 115200\n\n[ppp]\nuser = "me"\npassword = "secret"\n',
  '[wan]\ntype = "ethernet"\ninterface = "eth1"\naddress = "203.0.113.2/24"\ngateway = "203.0.113.1"\n\n[[portfw]]\nprotocol = "tcp"\nport = 8080\nto = "192.168.0.10:80"\n\n[masq]\nhelpers = { ftp = [21], irc = [6667] }\nports = "61000-65095"\n',
];
const CONFIG_PIECES = ['[', ']', '[[', ']]', '=', '"', "'", '"""', '{', '}', ',', '\n', '#', '\\', '\\u0000', '\\U00110000', '__proto__', 'constructor', '[__proto__]', '= { a = { b = [[[', '1e999', '-0', 'true', 'nan', '0x', '\u2028', '\r', '\u0000', 'ééé', '192.168.0.1/33', '"eth0\\u0000"'];

function mutateConfig(rng: () => number, text: string): string {
  let s = text;
  for (let m = 1 + (rng() % 4); m > 0; m--) {
    const at = rng() % (s.length + 1);
    switch (rng() % 5) {
      case 0: s = s.slice(0, at) + s.slice(at + 1 + (rng() % 20)); break;
      case 1: s = s.slice(0, at) + CONFIG_PIECES[rng() % CONFIG_PIECES.length]! + s.slice(at); break;
      case 2: s = s.slice(0, at) + String.fromCharCode(rng() % 0x3000) + s.slice(at + 1); break;
      case 3: { const lines = s.split('\n'); const l = rng() % lines.length; lines.splice(rng() % lines.length, 0, lines[l]!); s = lines.join('\n'); break; }
      default: s = s.slice(0, at) + '['.repeat(rng() % 3000) + s.slice(at); break;
    }
  }
  return s;
}

function fuzzConfig(rng: () => number): Record<string, unknown> {
  let exceptions = 0;
  let rejected = 0;
  let badFormat = 0;
  const t0 = process.hrtime.bigint();
  const files = 50_000;
  for (let i = 0; i < files; i++) {
    const text = mutateConfig(rng, CONFIG_SEEDS[rng() % CONFIG_SEEDS.length]!);
    try {
      const r = parseConfig(text);
      if (r.ok) continue;
      rejected++;
      for (const e of r.errors) {
        const line = formatConfigError('gateway.toml', e);
        if (!/^gateway\.toml:\d+: [^\n\r\u2028\u2029]*$/.test(line) || line.includes('    at ')) {
          if (badFormat++ < 5) failures.push(`config: error not in FILE:LINE form: ${JSON.stringify(line)}`);
        }
      }
    } catch (e) {
      if (exceptions++ < 5) failures.push(`config: file ${i} threw ${(e as Error).stack}\n--- the file:\n${text.slice(0, 400)}`);
    }
  }
  return { files, rejected, seconds: Math.round(seconds(t0) * 10) / 10, exceptions, errorsNotFileLine: badFormat };
}

// ------------------------------------------------------------------------------------------

const rng = xorshiftRng(Uint32Array.of(2026, 12, 2, 14));
const result = {
  heapLimitMb: mb(getHeapStatistics().heap_size_limit),
  core: fuzzCore(),
  hdlc: fuzzHdlc(rng),
  ppp: fuzzPpp(rng),
  config: fuzzConfig(rng),
  rssMbAtEnd: mb(process.memoryUsage().rss),
  failures,
  note: 'make fuzz: seeded, so a run repeats exactly; core frames through the lab\'s core (LAN + WAN) under gateway run\'s heap limits (firmware/heap.ts); rssMbPerMillionFrames is the resident size after each million frames',
};
console.log(JSON.stringify(result, null, 2));
mkdirSync(join(REPO, 'bench/results'), { recursive: true });
writeFileSync(join(REPO, 'bench/results/fuzz.json'), `${JSON.stringify(result, null, 2)}\n`);
if (failures.length > 0) process.exitCode = 1;
