// Van Jacobson header compression (RFC 1144): the wire encodings of §3.2, the connection cache,
// TOSS after a lost frame (§4.2), and compress-then-decompress giving back every datagram.

import test from 'ava';
import fc from 'fast-check';
import { writeU16 } from '../../firmware/core/wire/bytes.js';
import { VjCompressor, VjDecompressor, type VjType } from '../../drivers/ppp/vj.js';
import { ipPacket } from '../lib/packets.js';

interface Seg {
  sport?: number;
  seq: number;
  ack: number;
  id: number;
  flags?: string;
  len?: number;
  window?: number;
  urg?: number;
  mss?: number;
}

function segment(s: Seg): Uint8Array {
  const p = ipPacket({ proto: 'tcp', src: '192.168.0.200', dst: '203.0.113.1', sport: s.sport ?? 40000, dport: 80, flags: s.flags ?? 'A', seq: s.seq, ack: s.ack, id: s.id, mss: s.mss, payload: new Uint8Array(s.len ?? 0).fill(0x61) });
  if (s.window !== undefined) writeU16(p, 34, s.window);
  if (s.urg !== undefined) {
    p[33]! |= 0x20;
    writeU16(p, 38, s.urg);
  }
  return p;
}

/** Sends a packet through a compressor and a decompressor, as a link would (PPP protocol numbers). */
function carry(c: VjCompressor, d: VjDecompressor, p: Uint8Array): { type: VjType; size: number; out: Uint8Array | undefined } {
  const { type, bytes } = c.compress(p, 0, p.length);
  const size = bytes.length;
  const out = type === 'ip' ? bytes.slice() : type === 'uncompressed' ? d.uncompressed(bytes, 0, size)?.slice() : d.compressed(bytes, 0, size)?.slice();
  return { type, size, out };
}

test('a bulk transfer: the first segment goes uncompressed, the rest as SPECIAL_D in three bytes plus data', (t) => {
  const c = new VjCompressor(16, true);
  const d = new VjDecompressor(16);
  const first = carry(c, d, segment({ seq: 1000, ack: 5000, id: 1, len: 512 }));
  t.is(first.type, 'uncompressed');
  for (let i = 1; i < 5; i++) {
    const p = segment({ seq: 1000 + 512 * i, ack: 5000, id: 1 + i, len: 512 });
    const r = carry(c, d, p);
    t.is(r.type, 'compressed');
    // changes byte, TCP checksum; no slot id (same connection), no deltas (SPECIAL_D, id + 1).
    t.is(r.size, 3 + 512);
    t.deepEqual(r.out, p);
  }
});

test('interactive echo: SPECIAL_I when sequence and ack advance by the last segment length', (t) => {
  const c = new VjCompressor(16, true);
  const d = new VjDecompressor(16);
  carry(c, d, segment({ seq: 100, ack: 900, id: 10, len: 1 }));
  const p = segment({ seq: 101, ack: 901, id: 11, len: 1 });
  const r = carry(c, d, p);
  t.is(r.type, 'compressed');
  t.is(r.size, 3 + 1);
  t.deepEqual(r.out, p);
});

test('every delta: window, ack, sequence, IP id and urgent pointer, in the one-byte and three-byte forms', (t) => {
  const c = new VjCompressor(16, false);
  const d = new VjDecompressor(16);
  carry(c, d, segment({ seq: 1, ack: 1, id: 1, len: 10, window: 1000 }));
  const cases: [Seg, number][] = [
    [{ seq: 11, ack: 1, id: 2, len: 10, window: 1001 }, 1 + 1 + 2 + 1 + 1], // W 1 and S 10, one byte each
    [{ seq: 21, ack: 300, id: 3, len: 10, window: 1001 }, 1 + 1 + 2 + 3 + 1], // A: 299 takes three bytes; S 10: one
    [{ seq: 31, ack: 300, id: 9, len: 10, window: 1001 }, 1 + 1 + 2 + 1], // SPECIAL_D, I: 6 in one byte
    [{ seq: 41, ack: 300, id: 9, len: 10, window: 1001 }, 1 + 1 + 2 + 3], // I: a zero delta takes the long form
    [{ seq: 51, ack: 300, id: 10, len: 10, window: 0 }, 1 + 1 + 2 + 3 + 1], // W: -1001 wraps, three bytes
    [{ seq: 61, ack: 300, id: 11, len: 10, window: 0, urg: 5 }, 1 + 1 + 2 + 1 + 1], // U 5 and S 10
  ];
  for (const [seg, headerSize] of cases) {
    const p = segment(seg);
    const r = carry(c, d, p);
    t.is(r.type, 'compressed', JSON.stringify(seg));
    t.is(r.size - (seg.len ?? 0), headerSize, JSON.stringify(seg));
    t.deepEqual(r.out, p, JSON.stringify(seg));
  }
});

test('what must go whole: SYN, FIN, RST, a jump over 64 KiB, changed options, a retransmission, and non-TCP', (t) => {
  const c = new VjCompressor(16, true);
  const d = new VjDecompressor(16);
  t.is(carry(c, d, segment({ seq: 1, ack: 0, id: 1, flags: 'S' })).type, 'ip');
  carry(c, d, segment({ seq: 2, ack: 1, id: 2, len: 100 }));
  t.is(carry(c, d, segment({ seq: 102, ack: 1, id: 3, len: 100 })).type, 'compressed');
  t.is(carry(c, d, segment({ seq: 102, ack: 1, id: 4, len: 100 })).type, 'uncompressed', 'nothing changed but the id: a retransmission');
  t.is(carry(c, d, segment({ seq: 70_000, ack: 1, id: 5, len: 100 })).type, 'uncompressed', 'sequence delta over 0xffff');
  t.is(carry(c, d, segment({ seq: 70_100, ack: 1, id: 6, len: 100, mss: 1460 })).type, 'uncompressed', 'options changed');
  t.is(carry(c, d, segment({ seq: 70_200, ack: 1, id: 7, flags: 'FA' })).type, 'ip');
  t.is(carry(c, d, segment({ seq: 70_200, ack: 1, id: 8, flags: 'R' })).type, 'ip');
  const udp = ipPacket({ proto: 'udp', src: '192.168.0.200', dst: '203.0.113.1' });
  t.is(c.compress(udp, 0, udp.length).type, 'ip');
});

test('the connection cache: more connections than slots reuse the least recently used, and ids are sent when the connection changes', (t) => {
  const c = new VjCompressor(2, true);
  const d = new VjDecompressor(2);
  const seqs = [0, 0, 0];
  const ids = [0, 0, 0];
  const send = (conn: number): { type: VjType; size: number; out: Uint8Array | undefined; p: Uint8Array } => {
    const p = segment({ sport: 1000 + conn, seq: 1 + seqs[conn]!, ack: 1, id: ++ids[conn]!, len: 10 });
    seqs[conn]! += 10;
    return { ...carry(c, d, p), p };
  };
  t.is(send(0).type, 'uncompressed');
  t.is(send(1).type, 'uncompressed');
  const a = send(0);
  t.is(a.type, 'compressed');
  t.is(a.size, 4 + 10, 'the slot id is sent: the last packet was the other connection');
  t.deepEqual(a.out, a.p);
  t.is(send(2).type, 'uncompressed', 'a third connection takes the least recently used slot (connection 1)');
  const b = send(1);
  t.is(b.type, 'uncompressed', 'connection 1 lost its slot');
  t.deepEqual(b.out, b.p);
  t.is(c.counters.slotMisses, 4);
});

test('TOSS: after a lost frame, compressed packets are dropped until one names its slot or comes uncompressed', (t) => {
  const c = new VjCompressor(16, true);
  const d = new VjDecompressor(16);
  carry(c, d, segment({ seq: 1, ack: 1, id: 1, len: 10 }));
  // One compressed frame is lost on the line: the decompressor hears of a bad frame.
  c.compress(segment({ seq: 11, ack: 1, id: 2, len: 10 }), 0, 50);
  d.toss();
  const next = segment({ seq: 21, ack: 1, id: 3, len: 10 });
  const r = carry(c, d, next);
  t.is(r.type, 'compressed');
  t.is(r.out, undefined, 'tossed: its deltas are relative to the lost packet');
  t.is(d.counters.tossed, 1);
  // TCP retransmits; a retransmission goes whole and resynchronises both ends.
  const again = segment({ seq: 11, ack: 1, id: 4, len: 10 });
  const u = carry(c, d, again);
  t.is(u.type, 'uncompressed');
  t.deepEqual(u.out, again);
  const after = segment({ seq: 31, ack: 1, id: 5, len: 10 });
  t.deepEqual(carry(c, d, after).out, after);
});

test('malformed input: truncated, unknown slot, before any uncompressed packet, never throws', (t) => {
  const d = new VjDecompressor(16);
  t.is(d.compressed(Uint8Array.of(0x40 | 0x08, 3, 0, 0, 5), 0, 5), undefined, 'slot 3 was never set up');
  t.is(d.compressed(Uint8Array.of(0x40), 0, 1), undefined);
  t.is(d.uncompressed(new Uint8Array(10), 0, 10), undefined);
  const p = segment({ seq: 1, ack: 1, id: 1, len: 10 });
  p[9] = 200;
  t.is(d.uncompressed(p, 0, p.length), undefined, 'slot 200 of 16');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (bytes, kind) => {
      if (kind) d.compressed(bytes, 0, bytes.length);
      else d.uncompressed(bytes, 0, bytes.length);
    }),
  );
  t.true(d.counters.errors > 3);
});

test('property: compress then decompress gives back every datagram of random TCP streams', (t) => {
  const step = fc.record({
    conn: fc.integer({ min: 0, max: 5 }),
    len: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1400 })),
    seqJump: fc.oneof(fc.constant(-1), fc.constant(0), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 60_000, max: 200_000 })),
    ackDelta: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 65_000, max: 70_000 })),
    idDelta: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 65535 })),
    window: fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 65535 })),
    urg: fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 65535 })),
    flags: fc.constantFrom('A', 'A', 'A', 'PA', 'S', 'FA'),
    mss: fc.oneof(fc.constant(undefined), fc.constant(undefined), fc.constant(1460)),
  });
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 16 }), fc.boolean(), (steps, slots, omit) => {
      const c = new VjCompressor(slots, omit);
      const d = new VjDecompressor(slots);
      const state = Array.from({ length: 6 }, () => ({ seq: 1000, ack: 1, id: 1, lastLen: 0 }));
      for (const s of steps) {
        const st = state[s.conn]!;
        st.seq = (st.seq + (s.seqJump === -1 ? st.lastLen : s.seqJump)) >>> 0;
        st.ack = (st.ack + s.ackDelta) >>> 0;
        st.id = (st.id + s.idDelta) & 0xffff;
        st.lastLen = s.len;
        const p = segment({ sport: 2000 + s.conn, seq: st.seq, ack: st.ack, id: st.id, len: s.len, window: s.window, urg: s.urg, flags: s.flags, mss: s.mss });
        const r = carry(c, d, p);
        if (r.out === undefined || !Buffer.from(r.out).equals(Buffer.from(p))) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('the restored IP header checksum is valid', (t) => {
  const c = new VjCompressor(16, true);
  const d = new VjDecompressor(16);
  carry(c, d, segment({ seq: 1, ack: 1, id: 1, len: 10 }));
  const p = segment({ seq: 11, ack: 1, id: 7, len: 20 });
  const r = carry(c, d, p);
  t.deepEqual(r.out, p, 'ipPacket fills the header checksum, so equality proves the recomputed one');
});
