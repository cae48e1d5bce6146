// The fast checksum against the reference, and RFC 1624 updates against full recomputes.

import test from 'ava';
import fc from 'fast-check';
import { checksum, pseudoHeaderSum, referenceChecksum, updateChecksum16, updateChecksum32 } from '../../firmware/core/wire/checksum.js';
import { readU16, writeU16, writeU32 } from '../../firmware/core/wire/bytes.js';
import { fromHex } from '../../firmware/core/wire/bytes.js';

test('RFC 1071 §3 example: the sum of 0001 f203 f4f5 f6f7 is ddf2', (t) => {
  const b = fromHex('0001f203f4f5f6f7');
  t.is(checksum(b, 0, 8), ~0xddf2 & 0xffff);
  t.is(referenceChecksum(b, 0, 8), ~0xddf2 & 0xffff);
});

test('fast checksum equals the reference on random buffers, odd lengths and offsets', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(8), fc.nat(0xffff), (b, skip, initial) => {
    const start = Math.min(skip, b.length);
    return checksum(b, start, b.length, initial) === referenceChecksum(b, start, b.length, initial);
  }), { numRuns: 2000 });
  t.pass();
});

test('RFC 1624 incremental updates equal a full recompute', (t) => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 24, maxLength: 64 }), fc.nat(0xffff), fc.nat(0xffffffff), (b, w16, w32) => {
    const buf = b.slice(0, b.length & ~1);
    writeU16(buf, 0, 0);
    writeU16(buf, 0, checksum(buf, 0, buf.length));
    const old16 = readU16(buf, 4);
    writeU16(buf, 4, w16);
    const c1 = updateChecksum16(readU16(buf, 0), old16, w16);
    const old32 = ((buf[8]! << 24) | (buf[9]! << 16) | (buf[10]! << 8) | buf[11]!) >>> 0;
    writeU32(buf, 8, w32);
    const c2 = updateChecksum32(c1, old32, w32);
    writeU16(buf, 0, c2);
    return referenceChecksum(buf, 0, buf.length) === 0;
  }), { numRuns: 2000 });
  t.pass();
});

test('pseudo-header sum folds to 16 bits', (t) => {
  t.true(pseudoHeaderSum(0xffffffff, 0xffffffff, 17, 0xffff) <= 0xffff);
});
