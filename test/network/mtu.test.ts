// A WAN link with MTU 1400: MSS clamping, Fragmentation Needed, and fragmented UDP both ways
// through the gateway's reassembly and re-fragmentation.

import test from 'ava';
import { requireLab, NetLab, WAN_HOST, type GatewayProcess } from '../lab/netlab.js';

const why = requireLab();
const labTest = why === undefined ? test.serial : test.skip;
const lab = why === undefined ? new NetLab('mt') : undefined;
let gw: GatewayProcess | undefined;

test.before(async () => {
  if (lab === undefined) return;
  lab.sh(lab.gw, 'ip link set wan0 mtu 1400');
  lab.sh(lab.wan, 'ip link set eth0 mtu 1400');
  lab.file('www/index.html', 'x\n');
  lab.sh(lab.wan, `head -c 1000000 /dev/urandom > ${lab.dir}/www/big.bin`);
  lab.webServer(lab.wan, 'web.log');
  lab.background(lab.wan, 'iperf3 -s', 'iperf3.log');
  gw = await lab.startGateway(lab.gatewayConfig('static'));
});

test.after.always(async () => {
  await gw?.stop();
  lab?.destroy();
});

labTest('TCP downloads work: the SYN\'s MSS is clamped to fit 1400', async (t) => {
  const r = await lab!.shAsync(lab!.lan, `curl -sS --max-time 20 http://${WAN_HOST}/big.bin | md5sum; md5sum < ${lab!.dir}/www/big.bin`);
  t.is(r.code, 0, r.stderr);
  const [got, want] = r.stdout.trim().split('\n');
  t.is(got, want);
  t.true(gw!.status().translations['mssClamped']! >= 1);
});

labTest('a DF datagram too big for the WAN gets ICMP Fragmentation Needed with the MTU', async (t) => {
  const r = await lab!.shAsync(lab!.lan, `ping -M do -s 1472 -c 1 -W 2 ${WAN_HOST}`);
  t.not(r.code, 0);
  t.regex(r.stdout + r.stderr, /mtu ?= ?1400/);
});

labTest('large fragmented UDP datagrams get through, reassembled and re-fragmented', async (t) => {
  const r = await lab!.shAsync(lab!.lan, `iperf3 -c ${WAN_HOST} -u -l 4000 -b 4M -t 2 -J`, 30_000);
  t.is(r.code, 0, r.stdout.slice(0, 400));
  const j = JSON.parse(r.stdout) as { end: { sum: { lost_percent: number; packets: number } } };
  t.true(j.end.sum.packets > 100);
  t.true(j.end.sum.lost_percent < 5, `loss ${j.end.sum.lost_percent}%`);
  const tr = gw!.status().translations;
  t.true(tr['fragmentsReassembled']! > 100);
  t.true(tr['fragmentsSent']! > 100);
});

// Jumbo frames on the LAN, set while the gateway runs: the LAN link's receive ring is opened
// again with slots for 9000 bytes (a slot for 1500 bytes truncates them, and the frame is dropped), and
// the datagrams leave fragmented to fit the WAN's 1400.
labTest('a LAN switched to jumbo frames while running: 8000-byte datagrams cross whole, fragmented for the WAN', async (t) => {
  lab!.sh(lab!.gw, 'ip link set lan0 mtu 9000');
  lab!.sh(lab!.lan, 'ip link set eth0 mtu 9000');
  try {
    // The link's state poll (once a second) sees the new MTU.
    await new Promise((done) => setTimeout(done, 1500));
    const fragmentsBefore = gw!.status().translations['fragmentsSent']!;
    const r = await lab!.shAsync(lab!.lan, `ping -s 8000 -c 3 -i 0.2 -W 2 ${WAN_HOST}`);
    t.is(r.code, 0, r.stdout + r.stderr);
    t.regex(r.stdout, /3 received/);
    const status = gw!.status();
    t.is((status['interfaces'] as { name: string; mtu: number }[]).find((i) => i.name === 'lan0')?.mtu, 9000);
    t.is((status['links'] as { name: string; truncated?: number }[]).find((l) => l.name === 'lan0')?.truncated, 0);
    t.true(gw!.status().translations['fragmentsSent']! >= fragmentsBefore + 3 * 6, 'each request left in fragments of at most 1400 bytes');
  } finally {
    lab!.sh(lab!.lan, 'ip link set eth0 mtu 1500');
    lab!.sh(lab!.gw, 'ip link set lan0 mtu 1500');
  }
});
