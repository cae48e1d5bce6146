// DNS messages against byte fixtures (RFC 1035 §4.1, compression §4.1.4), hostile names, our
// own answers, and the cache: TTLs counted down, negative answers kept for the SOA minimum
// (RFC 2308 §5), what is never kept, and the bounds.

import test from 'ava';
import fc from 'fast-check';
import { fromHex } from '../../firmware/core/wire/bytes.js';
import { DnsCache } from '../../firmware/services/dns/cache.js';
import { buildQuery, header, localAnswer, parseQuery, readName, TYPE_A, TYPE_PTR, walkRecords, RCODE_NXDOMAIN } from '../../firmware/services/dns/message.js';

/** dig's query for www.lab.test A with an EDNS OPT record, as captured. */
const QUERY = fromHex('abcd0120000100000000000103777777036c616204746573740000010001' + '0000291000000000000000');
/** dnsmasq's answer: the question, www.lab.test A 203.0.113.1 TTL 300 (its name a pointer to offset 12), then OPT. */
const ANSWER = fromHex('abcd8580000100010000000103777777036c616204746573740000010001' + 'c00c000100010000012c0004cb007101' + '0000291000000000000000');
/** An NXDOMAIN with the zone's SOA in the authority section: TTL 300, MINIMUM 60. */
const NXDOMAIN = fromHex('beef85830001000000010000046e6f7065036c616204746573740000010001' +
  'c011' + '0006' + '0001' + '00000e10' + '0026' + '026e73c011' + '0a686f73746d6173746572c011' + '00000001' + '000004b0' + '000000b4' + '00127500' + '0000003c');

test('a query: header, one question, names lower-cased; what is not a query is said so', (t) => {
  const q = parseQuery(QUERY);
  if (typeof q === 'string') return t.fail(q);
  t.like(q.header, { id: 0xabcd, qd: 1, ar: 1 });
  t.deepEqual(q.question, { name: 'www.lab.test', type: TYPE_A, class: 1 });
  t.is(q.questionEnd, 30);
  t.is(parseQuery(ANSWER), 'a response, not a query');
  t.is(parseQuery(QUERY.subarray(0, 11)), 'shorter than a header');
  t.is(parseQuery(QUERY.subarray(0, 20)), 'malformed question');
  const mixed = buildQuery(1, 'WWW.Lab.TEST', TYPE_A);
  t.is((parseQuery(mixed) as { question: { name: string } }).question.name, 'www.lab.test');
});

test('names: compression pointers followed backwards only, loops and overlong names refused', (t) => {
  t.deepEqual(readName(ANSWER, 30), { name: 'www.lab.test', end: 32 });
  const loop = fromHex('000000000000000000000000c00c');
  t.is(readName(loop, 12), undefined, 'a pointer to itself');
  const forward = fromHex('000000000000000000000000c00e00');
  t.is(readName(forward, 12), undefined, 'a pointer forward');
  const long = new Uint8Array(12 + 5 * 64 + 1);
  for (let i = 0; i < 5; i++) long[12 + i * 64] = 63;
  t.is(readName(long, 12), undefined, 'longer than 255');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
    parseQuery(b);
    walkRecords(b);
  }));
});

test('records: every TTL found (OPT\'s is not one), the smallest, and a negative answer\'s SOA minimum', (t) => {
  t.deepEqual(walkRecords(ANSWER), { ttlOffsets: [36], minTtl: 300, negativeTtl: undefined });
  const nx = walkRecords(NXDOMAIN);
  t.is(nx?.negativeTtl, 60, 'min(SOA TTL 3600, MINIMUM 60)');
  t.is(header(NXDOMAIN)!.flags & 0xf, RCODE_NXDOMAIN);
  t.is(walkRecords(ANSWER.subarray(0, ANSWER.length - 5)), undefined, 'records that run past the end');
});

test('our own answers: the question, records pointing at its name, authoritative, RD copied', (t) => {
  const q = buildQuery(0x1234, 'laptop.lan', TYPE_A);
  const a = localAnswer(q, q.length, [{ type: TYPE_A, ttl: 60, data: Uint8Array.of(192, 168, 0, 100) }], 0);
  t.like(header(a), { id: 0x1234, qd: 1, an: 1, ns: 0, ar: 0 });
  t.is(header(a)!.flags, 0x8580);
  t.deepEqual(walkRecords(a), { ttlOffsets: [q.length + 6], minTtl: 60, negativeTtl: undefined });
  const ptr = localAnswer(q, q.length, [{ type: TYPE_PTR, ttl: 60, data: 'laptop.lan' }], 0);
  t.deepEqual(readName(ptr, q.length + 12), { name: 'laptop.lan', end: ptr.length });
});

test('the cache: served with the asker\'s ID and TTLs counted down, until the TTL runs out', (t) => {
  const c = new DnsCache(10);
  const q = { name: 'www.lab.test', type: TYPE_A, class: 1 };
  c.put(q, ANSWER, 0);
  const hit = c.get(q, 0x4242, 100_500);
  t.truthy(hit);
  t.is(header(hit!)!.id, 0x4242);
  t.is(new DataView(hit!.buffer).getUint32(36), 200, '300 - 100 s');
  t.is(c.get(q, 1, 300_000), undefined, 'expired');
  t.like(c.counters, { hits: 1, misses: 1, stored: 1 });
});

test('the cache: NXDOMAIN kept for its SOA minimum; truncated, SERVFAIL and SOA-less negative answers are not kept', (t) => {
  const c = new DnsCache(10);
  const nx = { name: 'nope.lab.test', type: TYPE_A, class: 1 };
  c.put(nx, NXDOMAIN, 0);
  t.truthy(c.get(nx, 1, 59_000));
  t.is(c.get(nx, 1, 60_001), undefined);
  const q = { name: 'www.lab.test', type: TYPE_A, class: 1 };
  const tc = ANSWER.slice();
  tc[2]! |= 0x02;
  c.put(q, tc, 0);
  const servfail = ANSWER.slice();
  servfail[3] = (servfail[3]! & 0xf0) | 2;
  c.put(q, servfail, 0);
  const bareNx = NXDOMAIN.slice(0, 31);
  bareNx[9] = 0; // no authority record
  c.put(nx, bareNx, 1);
  t.is(c.get(q, 1, 1), undefined);
  t.is(c.counters.notCached, 3);
});

test('the cache is bounded in entries, the least recently used going first', (t) => {
  const c = new DnsCache(2);
  const q = (n: string) => ({ name: n, type: TYPE_A, class: 1 });
  c.put(q('a'), ANSWER, 0);
  c.put(q('b'), ANSWER, 0);
  c.get(q('a'), 1, 1);
  c.put(q('c'), ANSWER, 2);
  t.truthy(c.get(q('a'), 1, 3));
  t.is(c.get(q('b'), 1, 3), undefined, 'b was the least recently used');
  t.is(c.size, 2);
  t.is(c.counters.evicted, 1);
});
