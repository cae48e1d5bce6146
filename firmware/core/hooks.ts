// The flow hooks (DESIGN.md): the only helper code the core's pipeline calls. attach() picks a
// helper for a new flow by its server port; inspect() runs after translation on flows that have
// one (plain flows pay one flag test in the core); admit() lets an expected connection in where
// default-deny would drop it; released() forgets a flow and its expectations.
//
// TCP: complete lines go to the helper; an unfinished line it may want to rewrite is held back
// and joined to the next segment, with the receiver's acknowledgement of the bytes before it
// taken as covering it (the sender need not wait for a retransmission timeout). When a rewrite
// changes a segment's length, sequence numbers from then on, acknowledgements and SACK blocks
// of the other direction are adjusted (netfilter's nf_ct_seqadj: a correction position and the
// offsets before and after it, per direction).

import { formatIpv4 } from './addr.js';
import type { ConntrackTable } from './conntrack/table.js';
import { fillTransportChecksum } from './wire/checksum.js';
import { IPPROTO_TCP, IPPROTO_UDP, Ipv4Packet } from './wire/ipv4.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, TcpSegment } from './wire/tcp.js';
import { readU16, readU32, writeU16, writeU32 } from './wire/bytes.js';
import type { ExpectationRequest, Helper, HelperContext, HelperFlow } from './helpers/helper.js';
import { ftpHelper } from './helpers/ftp.js';
import { ircHelper } from './helpers/irc.js';
import { tftpHelper } from './helpers/tftp.js';
import { quakeHelper } from './helpers/quake.js';
import { raudioHelper } from './helpers/raudio.js';
import { cuseemeHelper } from './helpers/cuseeme.js';
import { vdoliveHelper } from './helpers/vdolive.js';

/** Every helper the gateway has, by the name `[masq] helpers` uses. */
export const HELPERS: ReadonlyMap<string, Helper> = new Map(
  [ftpHelper, ircHelper, tftpHelper, quakeHelper, raudioHelper, cuseemeHelper, vdoliveHelper].map((h) => [h.name, h]),
);

/** Expectations waiting at once, all helpers together (each also bounded per control connection). */
export const MAX_EXPECTATIONS = 256;
/** An unfinished line longer than this is not a command (RFC 959 and IRC lines are short): passed on. */
const MAX_HELD = 512;

const DIR_ORIGINAL = 0;

interface SeqAdjust {
  /** Sender's sequence number of the last segment whose length changed. */
  pos: number;
  /** Offset for segments at or before pos, and after it. */
  before: number;
  after: number;
}

/** The start of an unfinished line, held back: its first byte's sequence number and bytes. */
interface Held {
  seq: number;
  bytes: Uint8Array;
}

interface Attachment {
  helper: Helper;
  flow: HelperFlow;
  /** Per direction (original, reply). */
  adjust: [SeqAdjust, SeqAdjust];
  held: [Held | undefined, Held | undefined];
  state: Record<string, number>;
  /** The last rewritten segment per direction: a retransmission gets the very same bytes (and no new expectation). */
  last: [Rewrite | undefined, Rewrite | undefined];
  expectations: Set<number>;
}

interface Rewrite {
  seq: number;
  text: string;
  out: { text: string; heldLength: number };
}

export interface Expectation {
  helper: string;
  master: number;
  protocol: number;
  remote: number;
  remotePort: number;
  outside: number;
  outsidePort: number;
  inside: number;
  insidePort: number;
  expires: number;
}

export interface HelperCounters {
  /** Lines or datagrams a helper rewrote. */
  rewritten: number;
  /** Expected connections let in. */
  expectedAdmitted: number;
  expectationsCreated: number;
  /** Refused: no room (MAX_EXPECTATIONS) or no outside port. */
  expectationsRefused: number;
  /** Replaced by a newer one of the same control connection (its maxExpected). */
  expectationsEvicted: number;
  expectationsExpired: number;
  /** Commands a helper recognised but could not parse, left alone. */
  malformed: number;
  /** Unfinished lines held back until the rest arrived. */
  linesHeld: number;
}

/** What FlowHooks needs from the core: outside ports for expectations. */
export interface PortSource {
  /** A free outside port for `protocol` toward `remote` (0: any), or -1. */
  freshPort(protocol: number, remote: number, remotePort: number, outside: number): number;
}

const before = (a: number, b: number): boolean => ((a - b) | 0) < 0;
const after = (a: number, b: number): boolean => ((b - a) | 0) < 0;
// One expectation per outside port and protocol (the gateway has one outside address at a time).
const keyOf = (protocol: number, port: number): number => protocol * 65536 + port;

export class FlowHooks {
  readonly counters: HelperCounters = {
    rewritten: 0, expectedAdmitted: 0, expectationsCreated: 0, expectationsRefused: 0, expectationsEvicted: 0, expectationsExpired: 0, malformed: 0, linesHeld: 0,
  };
  /** protocol × server port → helper. */
  private readonly byPort = new Map<number, Helper>();
  private readonly attached = new Map<number, Attachment>();
  private readonly expectations = new Map<number, Expectation>();

  constructor(enabled: Readonly<Record<string, readonly number[]>>, private readonly ports: PortSource) {
    for (const [name, list] of Object.entries(enabled)) {
      const helper = HELPERS.get(name);
      if (helper === undefined) throw new Error(`unknown helper ${name} (known: ${[...HELPERS.keys()].join(', ')})`);
      for (const port of list.length > 0 ? list : helper.defaultPorts) this.byPort.set(helper.protocol * 65536 + port, helper);
    }
  }

  get active(): boolean { return this.byPort.size > 0; }

  /** The helper for a new flow whose server listens on `serverPort`, attached; false if none. */
  attach(id: number, protocol: number, serverPort: number, flow: HelperFlow): boolean {
    const helper = this.byPort.get(protocol * 65536 + serverPort);
    if (helper === undefined) return false;
    this.attached.set(id, {
      helper, flow, expectations: new Set(), held: [undefined, undefined], last: [undefined, undefined], state: {},
      adjust: [{ pos: 0, before: 0, after: 0 }, { pos: 0, before: 0, after: 0 }],
    });
    return true;
  }

  helperOf(id: number): string | undefined {
    return this.attached.get(id)?.helper.name;
  }

  /** The flow is gone: its state and the expectations it made go too. */
  released(id: number): void {
    const a = this.attached.get(id);
    if (a === undefined) return;
    for (const k of a.expectations) this.expectations.delete(k);
    this.attached.delete(id);
  }

  /** Whether an outside port waits for an expected connection (new flows must not take it). */
  isExpected(protocol: number, port: number): boolean {
    return this.expectations.size > 0 && this.expectations.has(keyOf(protocol, port));
  }

  /**
   * A connection no flow knows, from `src:srcPort` to our `dst:dstPort`: the expectation it
   * fulfils (used up), or undefined.
   */
  admit(now: number, protocol: number, src: number, srcPort: number, dst: number, dstPort: number): Expectation | undefined {
    if (this.expectations.size === 0) return undefined;
    const k = keyOf(protocol, dstPort);
    const e = this.expectations.get(k);
    if (e === undefined || e.outside !== dst) return undefined;
    if (e.expires <= now) {
      this.forget(k, e);
      this.counters.expectationsExpired++;
      return undefined;
    }
    if ((e.remote !== 0 && e.remote !== src) || (e.remotePort !== 0 && e.remotePort !== srcPort)) return undefined;
    this.forget(k, e);
    this.counters.expectedAdmitted++;
    return e;
  }

  /** Drops expectations whose time is up (called from the core's tick). */
  expire(now: number): void {
    for (const [k, e] of this.expectations) {
      if (e.expires > now) continue;
      this.forget(k, e);
      this.counters.expectationsExpired++;
    }
  }

  list(now: number): { helper: string; protocol: string; outside: string; inside: string; remote: string; expiresIn: number }[] {
    return [...this.expectations.values()].map((e) => ({
      helper: e.helper, protocol: e.protocol === IPPROTO_TCP ? 'tcp' : 'udp', outside: `${formatIpv4(e.outside)}:${e.outsidePort}`,
      inside: `${formatIpv4(e.inside)}:${e.insidePort}`, remote: `${e.remote === 0 ? '*' : formatIpv4(e.remote)}:${e.remotePort === 0 ? '*' : e.remotePort}`,
      expiresIn: Math.max(0, Math.round((e.expires - now) / 1000)),
    }));
  }

  get expectationCount(): number { return this.expectations.size; }

  /**
   * A translated datagram of flow `id` going in direction `dir`: the helper's rewrites, and TCP's
   * sequence adjustment. Returns the buffer to send and the datagram's end in it (a new buffer
   * when the length changed), the same ones otherwise.
   */
  inspect(now: number, id: number, dir: number, b: Uint8Array, ipOff: number, l4: number, ipEnd: number): { b: Uint8Array; ipEnd: number } {
    const a = this.attached.get(id);
    if (a === undefined) return { b, ipEnd };
    const fromInside = (dir === DIR_ORIGINAL) === a.flow.insideIsClient;
    const ctx = this.contextFor(now, id, a);
    if (a.helper.protocol === IPPROTO_UDP) {
      if (a.helper.datagram === undefined || ipEnd - l4 < 8) return { b, ipEnd };
      const out = a.helper.datagram(fromInside, b.subarray(l4 + 8, ipEnd), ctx);
      if (out === undefined) return { b, ipEnd };
      this.counters.rewritten++;
      return rebuildUdp(b, ipOff, l4, out);
    }
    return this.inspectTcp(a, dir, fromInside, ctx, b, ipOff, l4, ipEnd);
  }

  private inspectTcp(a: Attachment, dir: number, fromInside: boolean, ctx: HelperContext, b: Uint8Array, ipOff: number, l4: number, ipEnd: number): { b: Uint8Array; ipEnd: number } {
    const tcp = new TcpSegment(b, l4);
    const flags = tcp.flags;
    const other = 1 - dir;
    let changed = false;
    // The other direction's changes, in what this segment acknowledges.
    if (flags & TCP_ACK) {
      const ack = this.mapAck(a, other, tcp.acknowledgment);
      if (ack !== tcp.acknowledgment) {
        tcp.acknowledgment = ack;
        changed = true;
      }
      changed = this.mapSack(a, other, b, l4, l4 + tcp.headerLength) || changed;
    }
    let seq = tcp.sequence;
    const payloadAt = l4 + tcp.headerLength;
    let payload = b.subarray(payloadAt, ipEnd);
    const held = a.held[dir];
    if (held !== undefined && (flags & (TCP_SYN | TCP_RST)) === 0) {
      if (seq === ((held.seq + held.bytes.length) >>> 0)) {
        // The rest of the held line: the segment starts where the held bytes did.
        payload = concat(held.bytes, payload);
        seq = held.seq;
      } else if (!after(seq, held.seq)) {
        a.held[dir] = undefined; // a retransmission from before: processed afresh
      }
    }
    const text = latin1(payload);
    // One held line at a time, kept until the receiver has it (a lost joined segment is joined again).
    const last = a.last[dir];
    let out: { text: string; heldLength: number } | undefined;
    if (last !== undefined && last.seq === seq && last.text === text) {
      out = last.out;
      if (out.heldLength > 0) a.held[dir] = { seq: (seq + text.length - out.heldLength) >>> 0, bytes: fromLatin1(text.slice(text.length - out.heldLength)) };
    } else {
      out = this.rewriteLines(a, fromInside, ctx, text, (flags & TCP_FIN) === 0 && a.held[dir] === undefined, seq, dir);
      if (out !== undefined) a.last[dir] = { seq, text, out };
    }
    const adjust = a.adjust[dir];
    const offset = after(seq, adjust.pos) ? adjust.after : adjust.before;
    if (out !== undefined) {
      const consumed = text.length - out.heldLength;
      const delta = out.text.length - consumed;
      if (delta !== 0 && (adjust.before === adjust.after || before(adjust.pos, seq))) {
        adjust.pos = seq;
        adjust.before = adjust.after;
        adjust.after = (adjust.after + delta) | 0;
      }
      const r = replacePayload(b, ipOff, payloadAt, fromLatin1(out.text));
      new TcpSegment(r.b, l4).sequence = (seq + offset) >>> 0;
      fillTransportChecksum(r.b, ipOff, l4, r.ipEnd, IPPROTO_TCP);
      return r;
    }
    if (offset !== 0 || seq !== tcp.sequence) {
      tcp.sequence = (seq + offset) >>> 0;
      changed = true;
    }
    // The whole checksum again: helper flows are control connections, few and small segments.
    if (changed) fillTransportChecksum(b, ipOff, l4, ipEnd, IPPROTO_TCP);
    return { b, ipEnd };
  }

  /**
   * Complete lines through the helper; an unfinished last line it may rewrite is held back.
   * Undefined when nothing changes (no rewrite, nothing held, nothing joined).
   */
  private rewriteLines(a: Attachment, fromInside: boolean, ctx: HelperContext, text: string, mayHold: boolean, seq: number, dir: number): { text: string; heldLength: number } | undefined {
    const helper = a.helper;
    const joined = a.held[dir] !== undefined && seq === a.held[dir]!.seq;
    if (helper.line === undefined) {
      if (helper.stream === undefined || text.length === 0) return joined ? { text, heldLength: 0 } : undefined;
      const r = helper.stream(fromInside, fromLatin1(text), ctx);
      if (r === undefined) return joined ? { text, heldLength: 0 } : undefined;
      this.counters.rewritten++;
      return { text: latin1(r), heldLength: 0 };
    }
    let out = '';
    let rewrote = false;
    let at = 0;
    for (;;) {
      const nl = text.indexOf('\n', at);
      if (nl < 0) break;
      const end = nl > at && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      const line = text.slice(at, end);
      const r = helper.line(fromInside, line, ctx);
      if (r !== undefined && r !== line) {
        rewrote = true;
        this.counters.rewritten++;
        out += r + text.slice(end, nl + 1);
      } else {
        out += text.slice(at, nl + 1);
      }
      at = nl + 1;
    }
    const tail = text.slice(at);
    let heldLength = 0;
    if (tail.length > 0 && tail.length < MAX_HELD && mayHold && helper.mayRewrite?.(fromInside, tail) === true) {
      a.held[dir] = { seq: (seq + at) >>> 0, bytes: fromLatin1(tail) };
      heldLength = tail.length;
      this.counters.linesHeld++;
    } else {
      out += tail;
    }
    if (!rewrote && heldLength === 0 && !joined) return undefined;
    return { text: out, heldLength };
  }

  /** An acknowledgement of direction `d`'s bytes, as its sender counts them. */
  private mapAck(a: Attachment, d: number, ack: number): number {
    const adj = a.adjust[d];
    let mapped = ack;
    if (adj.before !== 0 || adj.after !== 0) mapped = (ack - (after((ack - adj.before) >>> 0, adj.pos) ? adj.after : adj.before)) >>> 0;
    // The receiver has everything before a held line: the held bytes are ours to deliver.
    const held = a.held[d];
    if (held !== undefined) {
      const end = (held.seq + held.bytes.length) >>> 0;
      if (!before(mapped, held.seq) && before(mapped, end)) return end;
      if (!before(mapped, end)) a.held[d] = undefined; // delivered
    }
    return mapped;
  }

  /** SACK blocks (RFC 2018) of direction `d`'s bytes, adjusted like acknowledgements. */
  private mapSack(a: Attachment, d: number, b: Uint8Array, start: number, end: number): boolean {
    const adj = a.adjust[d];
    if (adj.before === 0 && adj.after === 0) return false;
    let changed = false;
    for (let i = start + 20; i < end; ) {
      const kind = b[i]!;
      if (kind === 0) break;
      if (kind === 1) {
        i++;
        continue;
      }
      const len = b[i + 1]!;
      if (len < 2 || i + len > end) break;
      if (kind === 5) {
        for (let j = i + 2; j + 4 <= i + len; j += 4) {
          const v = readU32(b, j);
          const m = (v - (after((v - adj.before) >>> 0, adj.pos) ? adj.after : adj.before)) >>> 0;
          if (m !== v) {
            writeU32(b, j, m);
            changed = true;
          }
        }
      }
      i += len;
    }
    return changed;
  }

  private contextFor(now: number, id: number, a: Attachment): HelperContext {
    return {
      flow: a.flow,
      state: a.state,
      expect: (r) => this.expect(now, id, a, r),
      malformed: () => void this.counters.malformed++,
    };
  }

  private expect(now: number, id: number, a: Attachment, r: ExpectationRequest): number {
    // One control connection keeps at most maxExpected: a newer one replaces the oldest.
    while (a.expectations.size >= a.helper.maxExpected) {
      const oldest = a.expectations.values().next().value!;
      this.forget(oldest, this.expectations.get(oldest)!);
      this.counters.expectationsEvicted++;
    }
    if (this.expectations.size >= MAX_EXPECTATIONS) {
      this.counters.expectationsRefused++;
      return -1;
    }
    const port = r.outsidePort ?? this.ports.freshPort(r.protocol, r.remote, r.remotePort, a.flow.outside);
    if (port < 0 || this.expectations.has(keyOf(r.protocol, port))) {
      this.counters.expectationsRefused++;
      return -1;
    }
    const e: Expectation = {
      helper: a.helper.name, master: id, protocol: r.protocol, remote: r.remote, remotePort: r.remotePort,
      outside: a.flow.outside, outsidePort: port, inside: r.inside, insidePort: r.insidePort, expires: now + a.helper.expectTimeoutMs,
    };
    const k = keyOf(r.protocol, port);
    this.expectations.set(k, e);
    a.expectations.add(k);
    this.counters.expectationsCreated++;
    return port;
  }

  private forget(k: number, e: Expectation | undefined): void {
    this.expectations.delete(k);
    if (e !== undefined) this.attached.get(e.master)?.expectations.delete(k);
  }
}

/** The control connection's ends as a helper sees them, from the flow's two tuples. */
export function helperFlowOf(t: ConntrackTable, id: number, insideIsClient: boolean): HelperFlow {
  const o = id * 2;
  const r = o + 1;
  if (insideIsClient) {
    return { inside: t.src(o), insidePort: t.ports(o) >>> 16, outside: t.dst(r), outsidePort: t.ports(r) & 0xffff, remote: t.dst(o), remotePort: t.ports(o) & 0xffff, insideIsClient };
  }
  // A port forward: the original comes from the remote client to our outside address.
  return { inside: t.src(r), insidePort: t.ports(r) >>> 16, outside: t.dst(o), outsidePort: t.ports(o) & 0xffff, remote: t.src(o), remotePort: t.ports(o) >>> 16, insideIsClient };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode(...b.subarray(i, Math.min(b.length, i + 4096)));
  return s;
}

function fromLatin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** The datagram's headers up to `payloadAt` with a new payload, in a new buffer: IP length and checksum made again. */
function replacePayload(b: Uint8Array, ipOff: number, payloadAt: number, payload: Uint8Array): { b: Uint8Array; ipEnd: number } {
  const nb = new Uint8Array(payloadAt + payload.length);
  nb.set(b.subarray(0, payloadAt));
  nb.set(payload, payloadAt);
  const ip = new Ipv4Packet(nb, ipOff);
  ip.totalLength = nb.length - ipOff;
  ip.fillChecksum();
  return { b: nb, ipEnd: nb.length };
}

/** A UDP datagram with a new payload: its length, and its checksum when it had one. */
function rebuildUdp(b: Uint8Array, ipOff: number, l4: number, payload: Uint8Array): { b: Uint8Array; ipEnd: number } {
  const r = replacePayload(b, ipOff, l4 + 8, payload);
  writeU16(r.b, l4 + 4, 8 + payload.length);
  if (readU16(b, l4 + 6) !== 0) fillTransportChecksum(r.b, ipOff, l4, r.ipEnd, IPPROTO_UDP);
  return r;
}
