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
