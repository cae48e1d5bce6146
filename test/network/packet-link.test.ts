// The AF_PACKET addon on a veth pair: frames sent in batches arrive intact and in order through
// both ring layouts, the MAC and MTU are read, link state follows the interface.

import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { PacketLink, packetRingAddon } from '../../drivers/nic/packet-link.js';

const root = process.getuid?.() === 0;
if (!root && process.env['CI'] === 'true') throw new Error('packet-link tests need root under CI');
if (!root) console.log('skipping packet-link tests: needs root');
const rootTest = root ? test.serial : test.skip;

// The links live in the test's own namespace: the worker process enters it through setns-free
// means by creating veths in the root namespace with unique names, removed afterwards.
const A = `pl${process.pid % 100000}a`;
const B = `pl${process.pid % 100000}b`;

test.before(() => {
  if (!root) return;
  execFileSync('ip', ['link', 'add', A, 'type', 'veth', 'peer', 'name', B]);
  for (const dev of [A, B]) {
    execFileSync('sh', ['-c', `for f in tx rx tso gso gro sg; do ethtool -K ${dev} $f off >/dev/null 2>&1; done; sysctl -qw net.ipv6.conf.${dev}.disable_ipv6=1; ip link set ${dev} up`]);
  }
});

test.after.always(() => {
  if (root) execFileSync('sh', ['-c', `ip link del ${A} 2>/dev/null; true`]);
});

function frame(src: Uint8Array, seq: number, size: number): Uint8Array {
  const f = new Uint8Array(size);
  f.fill(0xff, 0, 6);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5; // IEEE local experimental EtherType: nothing in the kernel answers it
  f[14] = seq >> 8;
  f[15] = seq & 0xff;
  for (let i = 16; i < size; i++) f[i] = (seq + i) & 0xff;
  return f;
}

for (const ring of ['v2', 'v3'] as const) {
  rootTest(`${ring}: batches of frames arrive intact and in order`, async (t) => {
    const tx = new PacketLink(A, { ring });
    const rx = new PacketLink(B, { ring });
    try {
      t.is(tx.mac.length, 6);
      t.is(tx.mtu, 1500);
      const got: Uint8Array[] = [];
      let state: boolean | undefined;
      const count = 400;
      const all = new Promise<void>((done) => {
        rx.start(
          (frames, starts, ends, n) => {
            for (let i = 0; i < n; i++) {
              const f = frames[i]!.slice(starts[i], ends[i]);
              if (f[12] === 0x88 && f[13] === 0xb5) got.push(f);
            }
            if (got.length >= count) done();
          },
          (s) => (state = s.up),
        );
      });
      tx.start(() => {}, () => {});
      // Full-size frames: a V3 block holds about 40, so blocks fill and are handed over
      // without waiting for the retire timer.
      const frames = Array.from({ length: count }, (_, i) => frame(tx.mac, i, i % 2 === 0 ? 1514 : 60 + (i % 1400)));
      for (let i = 0; i < count; i += 100) {
        const batch = frames.slice(i, i + 100);
        tx.send({ frames: batch, starts: new Int32Array(batch.length), ends: Int32Array.from(batch, (f) => f.length), count: batch.length });
      }
      await Promise.race([all, new Promise((done) => setTimeout(done, 5000))]);
      t.true(state);
      t.is(got.length, count, 'every frame arrived');
      for (let i = 0; i < got.length; i++) t.deepEqual(got[i], frames[i], `frame ${i}`);
      const first = rx.stats();
      t.is(first['truncated'], 0);
      t.true(first['received']! >= count, `the kernel counted ${first['received']} received`);
      // The kernel resets its packet statistics on every read; ours are totals: a second
      // reader sees at least what the first saw.
      t.true(rx.stats()['received']! >= first['received']!);
    } finally {
      tx.close();
      rx.close();
    }
  });
}

rootTest('link state follows the interface', async (t) => {
  const link = new PacketLink(A, { statePollMs: 50 });
  try {
    const states: boolean[] = [];
    link.start(() => {}, (s) => states.push(s.up));
    execFileSync('ip', ['link', 'set', A, 'down']);
    await new Promise((done) => setTimeout(done, 300));
    execFileSync('ip', ['link', 'set', A, 'up']);
    await new Promise((done) => setTimeout(done, 300));
    t.deepEqual(states.slice(0, 2), [true, false]);
    t.true(states.length >= 2);
  } finally {
    link.close();
  }
});

rootTest('opening a missing interface is a clear error', (t) => {
  const e = t.throws(() => new PacketLink('no-such-if0'));
  t.regex(e!.message, /no-such-if0.*No such device/);
});

rootTest('the addon refuses bad arguments with clear errors, and a closed handle', (t) => {
  const addon = packetRingAddon();
  const nic = addon.open(A, { version: 2 });
  try {
    const starts = new Int32Array(4);
    const ends = new Int32Array(4);
    t.throws(() => addon.receive(nic.handle, new Uint32Array(4) as unknown as Int32Array, ends), { instanceOf: TypeError, message: 'starts must be an Int32Array' });
    t.throws(() => addon.send(nic.handle, [], starts, new Float64Array(4) as unknown as Int32Array, 0), { instanceOf: TypeError, message: 'ends must be an Int32Array' });
    t.throws(() => addon.send(nic.handle, [], starts, ends, 5), { instanceOf: RangeError, message: 'count exceeds the starts/ends arrays' });
    ends[0] = 100;
    t.throws(() => addon.send(nic.handle, [new Uint8Array(60)], starts, ends, 1), { instanceOf: RangeError, message: 'frame bounds outside its buffer' });
    t.throws(() => addon.stats({} as object), { instanceOf: TypeError, message: 'expected a packet socket handle' });
    t.is(typeof addon.stats(nic.handle)['received'], 'number');
  } finally {
    addon.close(nic.handle);
  }
  t.throws(() => addon.receive(nic.handle, new Int32Array(1), new Int32Array(1)), { message: 'packet socket is closed' });
});

rootTest('a bad ring version is refused without leaking a socket', (t) => {
  const addon = packetRingAddon();
  const fds = (): number => readdirSync('/proc/self/fd').length;
  const before = fds();
  for (let i = 0; i < 20; i++) t.throws(() => addon.open(A, { version: 7 }), { instanceOf: RangeError, message: /version must be 2 or 3/ });
  t.is(fds(), before);
});
