// SLIP framing (RFC 1055) and CSLIP (RFC 1144 over SLIP): escapes, any chunking, garbage,
// oversized frames, and compressed TCP that arrives whole.

import test from 'ava';
import fc from 'fast-check';
import { END, ESC, ESC_END, ESC_ESC, SlipCodec, SlipDecoder, SlipEncoder } from '../../drivers/ppp/slip.js';
import { ipPacket } from '../lib/packets.js';

function encode(datagram: Uint8Array): Uint8Array {
  const out = new Uint8Array(SlipEncoder.maxLength(datagram.length));
  return out.slice(0, new SlipEncoder().encode(datagram, 0, datagram.length, out, 0));
}

test('END and ESC inside a datagram are escaped; each datagram is framed by END', (t) => {
  t.deepEqual([...encode(Uint8Array.of(1, END, 2, ESC, 3))], [END, 1, ESC, ESC_END, 2, ESC, ESC_ESC, 3, END]);
});

test('property: any datagrams, any chunking, with garbage between frames, decode exactly', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 20 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 10 }),
      (datagrams, chunks) => {
        const got: number[][] = [];
        const d = new SlipDecoder(300, (b, s, e) => got.push([...b.subarray(s, e)]));
        const line = Buffer.concat(datagrams.map(encode));
        for (let o = 0, i = 0; o < line.length; i++) {
          const n = chunks[i % chunks.length]!;
          d.push(line, o, Math.min(line.length, o + n));
          o += n;
        }
        return JSON.stringify(got) === JSON.stringify(datagrams.map((x) => [...x]));
      },
    ),
  );
  t.pass();
});

test('oversized frames are dropped up to the next END; a bad escape keeps its byte; empty frames are nothing', (t) => {
  const got: number[][] = [];
  const d = new SlipDecoder(4, (b, s, e) => got.push([...b.subarray(s, e)]));
  d.push(Uint8Array.of(END, END, 1, 2, 3, 4, 5, 6, END, 7, ESC, 0x41, 8, END, 9, END));
  t.deepEqual(got, [[7, 0x41, 8], [9]]);
  t.deepEqual(d.counters, { frames: 2, tooLong: 1, badEscapes: 1 });
});

test('property: garbage on the line never throws, and the next frame after an END arrives intact', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 500 }), fc.uint8Array({ minLength: 1, maxLength: 100 }), (noise, datagram) => {
      const got: Uint8Array[] = [];
      const d = new SlipDecoder(1006, (b, s, e) => got.push(b.slice(s, e)));
      d.push(noise);
      d.push(encode(datagram));
      return got.length > 0 && Buffer.from(got.at(-1)!).equals(Buffer.from(datagram));
    }),
  );
  t.pass();
});

test('CSLIP: TCP segments are compressed, typed in the first byte, and restored; other datagrams pass as they are', (t) => {
  const received: Uint8Array[] = [];
  const a = new SlipCodec(1006, true, () => undefined);
  const b = new SlipCodec(1006, true, (x, s, e) => received.push(x.slice(s, e)));
  const sent: Uint8Array[] = [];
  let line = 0;
  for (let i = 0; i < 4; i++) {
    const p = ipPacket({ proto: 'tcp', src: '192.168.0.201', dst: '203.0.113.1', flags: 'PA', seq: 1 + 100 * i, ack: 9, id: 1 + i, payload: new Uint8Array(100).fill(0xc0) });
    sent.push(p);
    const bytes = a.encode(p, 0, p.length);
    line += bytes.length;
    b.receive(bytes);
  }
  const udp = ipPacket({ proto: 'udp', src: '192.168.0.201', dst: '203.0.113.1', payload: Uint8Array.of(END, ESC) });
  sent.push(udp);
  b.receive(a.encode(udp, 0, udp.length));
  t.deepEqual(received, sent);
  t.like(b.counters.vj, { uncompressedIn: 1, compressedIn: 3 });
  // 100 END bytes per segment double on the line; headers shrink from 40 to 3 after the first.
  t.true(line < 4 * 200 + 40 + 3 * 3 + 8 + 10, `${line} bytes`);
});
