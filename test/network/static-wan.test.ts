// The gateway on a static Ethernet WAN, checked by real clients and servers in namespaces.

import test from 'ava';
import { requireLab, LAN_HOST, NetLab, WAN_GATEWAY, WAN_HOST, type GatewayProcess } from '../lab/netlab.js';

const why = requireLab();
const lab = why === undefined ? new NetLab('st') : undefined;
let gw: GatewayProcess | undefined;
const labTest = why === undefined ? test.serial : test.skip;

test.before(async () => {
  if (lab === undefined) return;
  lab.file('www/index.html', 'hello from the WAN\n');
  lab.sh(lab.wan, `head -c 2000000 /dev/urandom > ${lab.dir}/www/big.bin`);
  lab.webServer(lab.wan, 'wan-web.log');
  lab.file('lanwww/index.html', 'hello from the LAN\n');
  lab.background(lab.lan, `python3 -u -m http.server 80 --bind 0.0.0.0 --directory ${lab.dir}/lanwww`, 'lan-web.log');
  lab.dnsmasq();
  lab.background(lab.wan, 'iperf3 -s', 'iperf3.log');
  gw = await lab.startGateway(lab.gatewayConfig('static', '\n[[portfw]]\nprotocol = "tcp"\nport = 8080\nto = "192.168.0.100:80"\n'));
  // Let the servers bind.
  await lab.shAsync(lab.wan, 'for i in $(seq 50); do nc -z 127.0.0.1 80 2>/dev/null && break; sleep 0.1; done; true');
});

test.after.always(async () => {
  await gw?.stop();
  lab?.destroy();
});

labTest('curl from the LAN fetches a page; the server sees the WAN address, never 192.168.0.x', async (t) => {
  const r = await lab!.shAsync(lab!.lan, `curl -sS --max-time 10 http://${WAN_HOST}/index.html`);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'hello from the WAN\n');
  const log = lab!.read('wan-web.log');
  t.regex(log, new RegExp(`^${WAN_GATEWAY.replace(/\./g, '\\.')} .*GET /index.html`, 'm'));
  t.notRegex(log, /192\.168\.0\./);
});

labTest('a 2 MB download arrives intact', async (t) => {
  const r = await lab!.shAsync(lab!.lan, `curl -sS --max-time 30 http://${WAN_HOST}/big.bin | md5sum; md5sum < ${lab!.dir}/www/big.bin`);
  t.is(r.code, 0, r.stderr);
  const [got, want] = r.stdout.trim().split('\n');
  t.is(got, want);
});

labTest('ping through the gateway, and the gateway answers ping on its WAN address', async (t) => {
  const r = await lab!.shAsync(lab!.lan, `ping -c 3 -i 0.2 -W 2 ${WAN_HOST}`);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /3 received/);
  const own = await lab!.shAsync(lab!.wan, `ping -c 2 -i 0.2 -W 2 ${WAN_GATEWAY}`);
  t.is(own.code, 0, own.stdout);
});

labTest('traceroute (UDP and ICMP) shows the gateway as the first hop and reaches the server', async (t) => {
  for (const mode of ['', '-I']) {
    const r = await lab!.shAsync(lab!.lan, `traceroute -n ${mode} -w 2 -q 1 -m 5 ${WAN_HOST}`);
    t.is(r.code, 0, r.stderr);
    const hops = r.stdout.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/)[1]);
    t.deepEqual(hops, ['192.168.0.1', WAN_HOST], `traceroute ${mode}: ${r.stdout}`);
  }
});

labTest('DNS over UDP with dig to a server on the WAN', async (t) => {
  const r = await lab!.shAsync(lab!.lan, `dig +short +time=2 +tries=2 @${WAN_HOST} www.lab.test`);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), WAN_HOST);
});

labTest('iperf3 TCP and UDP through the gateway complete without errors', async (t) => {
  const tcp = await lab!.shAsync(lab!.lan, `iperf3 -c ${WAN_HOST} -t 2 -J`, 30_000);
  t.is(tcp.code, 0, tcp.stdout.slice(0, 500));
  const tj = JSON.parse(tcp.stdout) as { end: { sum_received: { bytes: number } } };
  t.true(tj.end.sum_received.bytes > 1_000_000);
  const udp = await lab!.shAsync(lab!.lan, `iperf3 -c ${WAN_HOST} -u -b 20M -t 2 -J`, 30_000);
  t.is(udp.code, 0, udp.stdout.slice(0, 500));
  const uj = JSON.parse(udp.stdout) as { end: { sum: { lost_percent: number; packets: number } } };
  t.true(uj.end.sum.packets > 1000);
  t.true(uj.end.sum.lost_percent < 5, `UDP loss ${uj.end.sum.lost_percent}%`);
});

labTest('the gateway\'s own traffic leaves through the host link, masqueraded', async (t) => {
  const r = await lab!.shAsync(lab!.gw, `ping -c 2 -i 0.2 -W 2 ${WAN_HOST} && dig +short +time=2 @${WAN_HOST} host.lab.test`);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, new RegExp(WAN_HOST.replace(/\./g, '\\.')));
  // The kernel holds no WAN address: the core owns it.
  t.notRegex(lab!.sh(lab!.gw, 'ip -4 addr show dev wan0'), /inet /);
});

labTest('from the WAN nothing inside is reachable: nmap finds only the forwarded port, 192.168.0.x is dropped', async (t) => {
  const scan = await lab!.shAsync(lab!.wan, `nmap -n -Pn -sT -T4 --max-retries 1 -p 1-1024,8080,61000-61100 ${WAN_GATEWAY} -oG -`, 120_000);
  t.is(scan.code, 0, scan.stderr);
  const open = [...scan.stdout.matchAll(/(\d+)\/open\//g)].map((m) => Number(m[1]));
  t.deepEqual(open, [8080], scan.stdout);
  const before = gw!.status().drops['forwardDenied'] ?? 0;
  lab!.sh(lab!.wan, `ip route replace 192.168.0.0/24 via ${WAN_GATEWAY}`);
  const ping = await lab!.shAsync(lab!.wan, `ping -c 2 -i 0.2 -W 1 ${LAN_HOST}`);
  t.not(ping.code, 0, 'a LAN host answered from the WAN');
  const http = await lab!.shAsync(lab!.wan, `curl -sS --max-time 2 http://${LAN_HOST}/`);
  t.not(http.code, 0);
  t.true((gw!.status().drops['forwardDenied'] ?? 0) > before);
});

labTest('a [[portfw]] rule reaches a LAN web server from the WAN and, through the WAN address, from the LAN (hairpin)', async (t) => {
  const wan = await lab!.shAsync(lab!.wan, `curl -sS --max-time 5 http://${WAN_GATEWAY}:8080/index.html`);
  t.is(wan.code, 0, wan.stderr);
  t.is(wan.stdout, 'hello from the LAN\n');
  const hairpin = await lab!.shAsync(lab!.lan, `curl -sS --max-time 5 http://${WAN_GATEWAY}:8080/index.html`);
  t.is(hairpin.code, 0, hairpin.stderr);
  t.is(hairpin.stdout, 'hello from the LAN\n');
  t.true(gw!.status().translations['newHairpinFlows']! >= 1);
});
