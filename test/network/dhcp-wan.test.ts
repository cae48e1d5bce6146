// The Ethernet WAN from a real DHCP server (dnsmasq): lease, renewal at T1, a new address flushes
// old flows, the lease survives a crash (INIT-REBOOT), and SIGTERM releases it.

import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import { requireLab, NetLab, WAN_HOST, type GatewayProcess } from '../lab/netlab.js';

const why = requireLab();
const labTest = why === undefined ? test.serial : test.skip;
const lab = why === undefined ? new NetLab('dh') : undefined;
let gw: GatewayProcess | undefined;

test.before(() => {
  if (lab === undefined) return;
  lab.file('www/index.html', 'hello\n');
  lab.webServer(lab.wan, 'web.log');
});

test.after.always(async () => {
  await gw?.stop();
  lab?.destroy();
});

let dnsmasq: ChildProcess | undefined;

function startDhcp(range: string, leases: string): void {
  dnsmasq = lab!.dnsmasq({ dhcpRange: `${range},255.255.255.0,2m`, t1: 3, t2: 6, leaseFile: `${lab!.dir}/${leases}` });
}


const inRange = (a: unknown, from: number, to: number): boolean => {
  const last = Number(String(a).split('/')[0]!.split('.')[3]);
  return String(a).startsWith('203.0.113.') && last >= from && last <= to;
};

labTest('a lease from dnsmasq becomes the WAN address; traffic leaves from it', async (t) => {
  startDhcp('203.0.113.50,203.0.113.59', 'leases1');
  gw = await lab!.startGateway(lab!.gatewayConfig('dhcp'));
  const bound = await gw.waitFor('wan_address', 20_000);
  t.is(bound['source'], 'dhcp');
  t.true(inRange(bound['address'], 50, 59), String(bound['address']));
  t.is(bound['gateway'], WAN_HOST);
  const r = await lab!.shAsync(lab!.lan, `curl -sS --max-time 5 http://${WAN_HOST}/index.html`);
  t.is(r.code, 0, r.stderr);
  t.regex(lab!.read('web.log'), new RegExp(`^${String(bound['address']).split('/')[0]} `, 'm'));
});

labTest('renewal at T1 keeps the address; a NAK on renewal brings a new one and flushes old flows', async (t) => {
  // T1 is 3 s: a renewal goes by, acknowledged, the address unchanged.
  await gw!.waitFor('dhcp_bound', 15_000, (r) => r['renewedFrom'] !== undefined);
  const first = gw!.logs.filter((r) => r['event'] === 'wan_address');
  t.is(first.length, 1, 'a plain renewal changed nothing');

  // Flows that exist before the change.
  await lab!.shAsync(lab!.lan, `ping -c 1 -W 1 ${WAN_HOST}; dig +short +time=1 +tries=1 @${WAN_HOST} a.lab.test || true`);
  t.true(gw!.status().conntrack['flows']! >= 1);

  // The ISP renumbers: its server now hands out another range and refuses the old address.
  await lab!.kill(dnsmasq!);
  startDhcp('203.0.113.60,203.0.113.69', 'leases2');
  const moved = await gw!.waitFor('wan_address', 30_000, (r) => inRange(r['address'], 60, 69));
  // The NAK takes the old address away at once (flows flushed then); the new lease follows.
  const lost = gw!.logs.find((r) => r['event'] === 'wan_address_lost');
  t.truthy(lost, 'the NAK withdrew the old address');
  t.true((lost!['flowsFlushed'] as number) + (moved['flowsFlushed'] as number) >= 1, JSON.stringify([lost, moved]));
  const r = await lab!.shAsync(lab!.lan, `curl -sS --max-time 5 http://${WAN_HOST}/index.html`);
  t.is(r.code, 0, r.stderr);
  t.regex(lab!.read('web.log'), new RegExp(`^${String(moved['address']).split('/')[0]} `, 'm'));
  t.is(gw!.proc.exitCode, null, 'the gateway is still running');
});

labTest('the WAN cable unplugged and plugged back: the lease is verified (INIT-REBOOT) and traffic flows again', async (t) => {
  const address = gw!.logs.filter((r) => r['event'] === 'wan_address').pop()!['address'];
  const seen = gw!.logs.length;
  lab!.sh(lab!.wan, 'ip link set eth0 down');
  await gw!.waitFor('link_state', 5000, (r) => r['link'] === 'wan0' && r['up'] === false);
  lab!.sh(lab!.wan, 'ip link set eth0 up');
  await gw!.waitFor('dhcp_state', 10_000, (r) => r['state'] === 'rebooting' && gw!.logs.indexOf(r) >= seen);
  await gw!.waitFor('dhcp_bound', 10_000, (r) => gw!.logs.indexOf(r) >= seen);
  t.is(gw!.logs.filter((r) => r['event'] === 'wan_address').pop()!['address'], address);
  const r = await lab!.shAsync(lab!.lan, `curl -sS --max-time 5 http://${WAN_HOST}/index.html`);
  t.is(r.code, 0, r.stderr);
});

labTest('after a crash the kept lease is asked for again (INIT-REBOOT); SIGTERM releases it and restores the host', async (t) => {
  const before = gw!.logs.filter((r) => r['event'] === 'wan_address').pop()!['address'];
  gw!.proc.kill('SIGKILL');
  await new Promise((done) => gw!.proc.once('exit', done));
  gw = await lab!.startGateway(lab!.gatewayConfig('dhcp'));
  await gw.waitFor('dhcp_state', 10_000, (r) => r['state'] === 'rebooting');
  const again = await gw.waitFor('wan_address', 20_000);
  t.is(again['address'], before);

  t.is(await gw.stop(), 0);
  const log = lab!.read('dnsmasq.log');
  t.regex(log, new RegExp(`DHCPRELEASE\\(eth0\\) ${String(before).split('/')[0]}`), log.split('\n').filter((l) => !l.includes('dnsmasq-dhcp: ') || /DHCP[A-Z]+\(/.test(l)).slice(-15).join('\n'));
  t.notRegex(lab!.sh(lab!.gw, 'ip -o link show'), /gw-host/, 'host link removed');
  // The killed run's changes were journalled and taken over: the LAN address it added goes too.
  t.notRegex(lab!.sh(lab!.gw, 'ip -o -4 addr show dev lan0'), /192\.168\.0\.1\/24/);
});
