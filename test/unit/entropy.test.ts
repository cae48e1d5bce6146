// What replaced Node's crypto module in the gateway (firmware/entropy.ts, drivers/ppp/md5.ts):
// MD5 by RFC 1321's own test suite and against OpenSSL's, uniform random integers from the
// kernel's pool, and the secret comparison.

import test from 'ava';
import { createHash } from 'node:crypto';
import { md5 } from '../../drivers/ppp/md5.js';
import { randomBytes, randomInt, sameSecret } from '../../firmware/entropy.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

test('MD5: the test suite of RFC 1321 (A.5)', (t) => {
  const suite: [string, string][] = [
    ['', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['a', '0cc175b9c0f1b6a831c399e269772661'],
    ['abc', '900150983cd24fb0d6963f7d28e17f72'],
    ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
    ['abcdefghijklmnopqrstuvwxyz', 'c3fcd3d76192e4007dfb496cca67e13b'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'd174ab98d277d9f5a5611c2c9f419d9f'],
    ['1234567890'.repeat(8), '57edf4a22be3c955ac49da2e2107b67a'],
  ];
  for (const [input, digest] of suite) t.is(hex(md5(ascii(input))), digest, JSON.stringify(input));
});

test('MD5: the same as OpenSSL\'s for every length across the padding boundaries, in parts', (t) => {
  for (let n = 0; n < 300; n++) {
    const data = randomBytes(n);
    const cut = n >> 1;
    t.is(hex(md5(data.subarray(0, cut), data.subarray(cut))), createHash('md5').update(data).digest('hex'), `length ${n}`);
  }
});

test('randomInt stays in its range and reaches all of it; randomBytes differ from call to call', (t) => {
  const seen = new Array<number>(6).fill(0);
  for (let i = 0; i < 6000; i++) {
    const r = randomInt(10, 16);
    t.true(r >= 10 && r < 16);
    seen[r - 10]!++;
  }
  // Each of six values about 1000 times: far outside 700–1300 would be a biased draw.
  for (const count of seen) t.true(count > 700 && count < 1300, `${seen.join(' ')}`);
  t.true(randomInt(0, 2 ** 32) < 2 ** 32);
  t.throws(() => randomInt(5, 5), { instanceOf: RangeError });
  t.notDeepEqual(randomBytes(16), randomBytes(16));
});

test('sameSecret: equal only when equal, whatever the lengths', (t) => {
  t.true(sameSecret('hunter2', 'hunter2'));
  t.true(sameSecret('', ''));
  t.false(sameSecret('hunter', 'hunter2'));
  t.false(sameSecret('hunter22', 'hunter2'));
  t.false(sameSecret('hunter3', 'hunter2'));
  t.false(sameSecret('x', ''));
  t.false(sameSecret('', 'x'));
  t.false(sameSecret('hunter2hunter2', 'hunter2'), 'a repetition of the secret is not the secret');
  t.true(sameSecret('pässwörd', 'pässwörd'));
});
