// RFC 1662 framing: FCS, escapes in both directions of the ACCM, header compression, and a
// decoder that survives noise, bad FCS, aborts and oversized frames in any chunking.

import test from 'ava';
import fc from 'fast-check';
import { fromHex, toHex } from '../../firmware/core/wire/bytes.js';
import { fcs16, FCS_GOOD, FCS_INIT, HdlcDecoder, HdlcEncoder, PROTO_LCP } from '../../drivers/ppp/hdlc.js';

function encode(e: HdlcEncoder, protocol: number, info: Uint8Array): Uint8Array {
  const out = new Uint8Array(HdlcEncoder.maxLength(info.length));
  return out.slice(0, e.encode(protocol, info, 0, info.length, out, 0));
}

function decoder(maxInfo = 1500) {
  const frames: [number, string][] = [];
  const d = new HdlcDecoder(maxInfo, (p, b, s, e) => frames.push([p, toHex(b.subarray(s, e))]));
  return { d, frames };
}

test('FCS-16: the RFC 1662 check value, and a frame with its FCS sums to the good value', (t) => {
  const data = new TextEncoder().encode('123456789');
  t.is(fcs16(FCS_INIT, data, 0, data.length) ^ 0xffff, 0x906e); // the CRC-16/X-25 check value
  const fcs = fcs16(FCS_INIT, data, 0, data.length) ^ 0xffff;
  const whole = Uint8Array.of(...data, fcs & 0xff, fcs >>> 8);
  t.is(fcs16(FCS_INIT, whole, 0, whole.length), FCS_GOOD);
});

test('an LCP Configure-Request as pppd sends it, byte for byte', (t) => {
  // LCP Conf-Req id 1: MRU 1500? no options but magic 0x12345678 (type 5).
  const info = fromHex('0101000a0506123456 78'.replace(/ /g, ''));
  const e = new HdlcEncoder();
  const wire = encode(e, PROTO_LCP, info);
  // Default ACCM: every control character escaped (0x01 → 7d 21, 0x03 → 7d 23, ...).
  t.is(toHex(wire.subarray(0, 7)), '7eff7d23c0217d');
  t.is(wire[wire.length - 1], 0x7e);
  const { d, frames } = decoder();
  d.push(wire);
  t.deepEqual(frames, [[PROTO_LCP, toHex(info)]]);
});

test('ACCM 0 leaves control characters alone but still escapes flag and escape', (t) => {
  const e = new HdlcEncoder();
  e.setAccm(0);
  const wire = encode(e, 0x0021, Uint8Array.of(0x01, 0x7e, 0x7d, 0x11));
  t.is(toHex(wire), `7eff03002101${'7d5e'}${'7d5d'}11${toHex(wire.subarray(wire.length - 3, wire.length - 1))}7e`);
});

test('ACFC and PFC shorten IP frames but never LCP', (t) => {
  const e = new HdlcEncoder();
  e.setAccm(0);
  e.options = { acfc: true, pfc: true };
  t.is(toHex(encode(e, 0x0021, Uint8Array.of(0x45)).subarray(1, 3)), '2145');
  t.is(toHex(encode(e, PROTO_LCP, Uint8Array.of(0x09)).subarray(1, 5)), 'ff03c021');
  const { d, frames } = decoder();
  d.setAccm(0);
  d.push(encode(e, 0x0021, Uint8Array.of(0x45, 0x00)));
  d.push(encode(e, 0x8021, Uint8Array.of(0x01)));
  t.deepEqual(frames, [[0x21, '4500'], [0x8021, '01']]);
});

test('bad FCS, runts, aborts, oversize frames and unescaped mapped characters are counted and skipped', (t) => {
  const e = new HdlcEncoder();
  const good = encode(e, 0x0021, Uint8Array.of(1, 2, 3));
  const corrupt = good.slice();
  corrupt[5] ^= 0x40;
  const { d, frames } = decoder(8);
  d.push(corrupt);
  d.push(Uint8Array.of(0x7e, 0x55, 0x7e)); // runt
  d.push(Uint8Array.of(0x7e, 0xff, 0x03, 0x7d, 0x7e)); // abort
  d.push(encode(e, 0x0021, new Uint8Array(20))); // longer than MRU 8
  // XON/XOFF inserted by a modem into a good frame: in the receive ACCM, dropped.
  const noisy = Uint8Array.of(...good.subarray(0, 4), 0x11, ...good.subarray(4, 8), 0x13, ...good.subarray(8));
  d.push(noisy);
  t.deepEqual(frames, [[0x21, '010203']]);
  t.like(d.counters, { frames: 1, badFcs: 1, runts: 1, aborts: 1, tooLong: 1 });
});

test('property: any frames, any ACCM, any chunking, with noise between frames: decoded exactly', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ protocol: fc.constantFrom(0x0021, 0xc021, 0x8021, 0xc023, 0xc223), info: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 8 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.boolean(),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
      (frames, accm, compress, cuts) => {
        const e = new HdlcEncoder();
        e.setAccm(accm);
        e.options = { acfc: compress, pfc: compress };
        const parts: number[] = [];
        for (const f of frames) parts.push(...encode(e, f.protocol, f.info), 0x7e);
        const wire = Uint8Array.from(parts);
        const got: [number, string][] = [];
        const d = new HdlcDecoder(300, (p, b, s, end) => got.push([p, toHex(b.subarray(s, end))]));
        d.setAccm(0); // a peer's rx ACCM of 0: nothing dropped, so escaped bytes survive any tx ACCM
        let o = 0;
        for (let i = 0; o < wire.length; i++) {
          const n = cuts[i % cuts.length]!;
          d.push(wire, o, Math.min(wire.length, o + n));
          o += n;
        }
        return JSON.stringify(got) === JSON.stringify(frames.map((f) => [f.protocol, toHex(f.info)]));
      },
    ),
  );
  t.pass();
});

test('property: after any line noise, a flag resynchronises and the next frame arrives intact', (t) => {
  const e = new HdlcEncoder();
  const info = Uint8Array.of(0x45, 0, 0, 20, 1, 2, 3);
  const good = encode(e, 0x0021, info);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (noise) => {
      const got: string[] = [];
      const d = new HdlcDecoder(1500, (p, b, s, end) => got.push(`${p}:${toHex(b.subarray(s, end))}`));
      d.push(noise);
      d.push(Uint8Array.of(0x7e));
      d.push(good);
      // Whatever the noise made of itself, the last frame is the good one.
      return got[got.length - 1] === `33:${toHex(info)}`;
    }),
  );
  t.pass();
});
