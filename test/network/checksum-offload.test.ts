// Frames whose transport checksum the sender left for hardware (a veth or a virtio NIC with
// checksum offload on: TP_STATUS_CSUMNOTREADY) arrive with only the pseudo-header's part in the
// field; the packet driver completes it in the ring, so what the core forwards is right.

import test from 'ava';
import { execFileSync } from 'node:child_process';
import { PacketLink } from '../../drivers/nic/packet-link.js';
import { referenceChecksum } from '../../firmware/core/wire/checksum.js';

const root = process.getuid?.() === 0;
if (!root && process.env['CI'] === 'true') throw new Error('checksum offload tests need root under CI');
if (!root) console.log('skipping checksum offload tests: needs root');
const rootTest = root ? test.serial : test.skip;

const ns = `cso${process.pid % 10000}`;
const A = `cso${process.pid % 10000}a`;

test.before(() => {
  if (!root) return;
  execFileSync('sh', ['-c', [
    `ip netns add ${ns}`,
    `ip link add ${A} type veth peer name eth0 netns ${ns}`,
    `ip link set ${A} up`,
    // Our side reads whole frames; the sender's side keeps its checksum offload (the default).
    `for f in rx tso gso gro; do ethtool -K ${A} $f off >/dev/null 2>&1; done`,
    `ip -n ${ns} link set lo up; ip -n ${ns} addr add 10.99.0.2/24 dev eth0; ip -n ${ns} link set eth0 up`,
    `ip -n ${ns} neigh add 10.99.0.1 lladdr 02:00:00:00:99:01 dev eth0`,
    `ip netns exec ${ns} ethtool -K eth0 tx on >/dev/null 2>&1; true`,
  ].join(' && ')]);
});

test.after.always(() => {
  if (root) execFileSync('sh', ['-c', `ip netns del ${ns} 2>/dev/null; ip link del ${A} 2>/dev/null; true`]);
});

for (const [proto, script] of [
  ['udp', "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x'*301, ('10.99.0.1', 9999))"],
  ['tcp', "import socket; s=socket.socket(); s.settimeout(0.5)\ntry: s.connect(('10.99.0.1', 9999))\nexcept Exception: pass"],
] as const) {
  rootTest(`${proto} sent with checksum offload arrives with its checksum completed`, async (t) => {
    const link = new PacketLink(A, { ring: 'v2' });
    try {
      const got: Uint8Array[] = [];
      link.start((frames, starts, ends, n) => {
        for (let i = 0; i < n; i++) {
          const f = frames[i]!.slice(starts[i], ends[i]);
          if (f[12] === 0x08 && f[13] === 0x00 && f[14 + 9] === (proto === 'udp' ? 17 : 6)) got.push(f);
        }
      }, () => {});
      execFileSync('ip', ['netns', 'exec', ns, 'python3', '-c', script]);
      for (let i = 0; i < 20 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      t.true(got.length >= 1, 'the datagram arrived');
      const f = got[0]!;
      const ihl = (f[14]! & 0xf) * 4;
      const total = (f[16]! << 8) | f[17]!;
      const l4 = 14 + ihl;
      const pseudo = ((f[26]! << 8) | f[27]!) + ((f[28]! << 8) | f[29]!) + ((f[30]! << 8) | f[31]!) + ((f[32]! << 8) | f[33]!) + f[14 + 9]! + (total - ihl);
      t.is(referenceChecksum(f, l4, 14 + total, pseudo), 0, 'the transport checksum verifies');
      t.true((link.stats()['checksumsCompleted'] ?? 0) >= 1, 'completed by the driver (the sender had left it)');
    } finally {
      link.close();
    }
  });
}
