// The LAN services (issue 17) with real clients: ISC dhclient and busybox udhcpc get addresses
// from the gateway's DHCP server (on macvlan interfaces of the LAN namespace, each its own MAC),
// a static lease, leases kept across a SIGKILL; dig asks the gateway's DNS forwarder, which
// forwards to dnsmasq in the WAN namespace (authoritative for lab.test, and the WAN's DHCP
// server, which tells the gateway about it), caches answers and NXDOMAIN, and answers for the
// DHCP clients' host names.

import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { requireLab, NetLab, WAN_HOST, type GatewayProcess } from '../lab/netlab.js';

const why = requireLab();
const labTest = why === undefined ? test.serial : test.skip;
let lab: NetLab | undefined;
let gw: GatewayProcess | undefined;
const STATIC_MAC = '02:00:00:00:00:42';

const config = (): string => lab!.gatewayConfig('dhcp', [
  '[dhcp]', 'lease_time = 600',
  '[[dhcp.static]]', `mac = "${STATIC_MAC}"`, 'address = "192.168.0.50"', 'hostname = "printer"',
].join('\n'));

test.before(async () => {
  if (why !== undefined) return;
  lab = new NetLab('ls');
  // dnsmasq: the WAN's DHCP server (it names itself as the DNS server) and authoritative for lab.test.
  lab.background(lab.wan, [
    'dnsmasq', '--keep-in-foreground', '--no-daemon', '--no-resolv', '--no-hosts', '--bind-interfaces', '--interface=eth0', '--except-interface=lo',
    '--log-queries', '--pid-file=', `--dhcp-range=203.0.113.50,203.0.113.60,255.255.255.0`, `--dhcp-option=option:router,${WAN_HOST}`,
    `--dhcp-option=option:dns-server,${WAN_HOST}`, '--dhcp-authoritative', `--dhcp-leasefile=${lab.dir}/wan.leases`,
    '--auth-server=ns.lab.test,eth0', '--auth-zone=lab.test', `--host-record=www.lab.test,${WAN_HOST}`, '--auth-ttl=300',
  ].join(' '), 'dnsmasq.log');
  // The LAN host forgets its hand-made address: its clients ask DHCP. Three more MACs on the same wire.
  lab.sh(lab.lan, [
    'ip addr flush dev eth0', 'ip route flush table main',
    'ip link add dc1 link eth0 type macvlan mode bridge', 'ip link add dc2 link eth0 type macvlan mode bridge',
    `ip link add dc3 link eth0 address ${STATIC_MAC} type macvlan mode bridge`,
    'for i in dc1 dc2 dc3; do ip link set $i up; done',
  ].join('; '));
  lab.file('dhclient.conf', 'send host-name "laptop";\nrequest subnet-mask, broadcast-address, routers, domain-name, domain-name-servers;\n');
  // The clients' scripts only record what they got (a real dhclient-script would rewrite the host's /etc/resolv.conf).
  lab.file('dhclient-script', `#!/bin/sh\necho "$reason $new_ip_address $new_routers $new_domain_name_servers $new_domain_name" >>${lab.dir}/$interface.dhclient\n[ -n "$new_ip_address" ] && ip addr replace "$new_ip_address/24" dev "$interface"\nexit 0\n`);
  lab.file('udhcpc-script', `#!/bin/sh\n[ "$1" = bound ] || [ "$1" = renew ] || exit 0\necho "$1 $ip $router $dns $domain" >>${lab.dir}/$interface.udhcpc\nip addr replace "$ip/24" dev "$interface"\n`);
  lab.sh(lab.lan, `chmod +x ${lab.dir}/dhclient-script ${lab.dir}/udhcpc-script`);
  gw = await lab.startGateway(config());
  await gw.waitFor('dhcp_server_listening', 20_000);
  await gw.waitFor('wan_address', 30_000);
});

test.after.always(async () => {
  await gw?.stop();
  lab?.destroy();
});

/** dhclient once on `dev`; what its script recorded. */
async function dhclient(dev: string): Promise<string> {
  const record = `${lab!.dir}/${dev}.dhclient`;
  const r = await lab!.shAsync(lab!.lan, `dhclient -4 -1 -v -cf ${lab!.dir}/dhclient.conf -sf ${lab!.dir}/dhclient-script -lf ${lab!.dir}/${dev}.leases -pf ${lab!.dir}/${dev}.pid ${dev}; kill $(cat ${lab!.dir}/${dev}.pid) 2>/dev/null; cat ${record}`, 60_000);
  return r.stdout;
}

async function udhcpc(dev: string, hostname: string): Promise<string> {
  const record = `${lab!.dir}/${dev}.udhcpc`;
  const r = await lab!.shAsync(lab!.lan, `busybox udhcpc -i ${dev} -f -q -n -t 5 -x hostname:${hostname} -s ${lab!.dir}/udhcpc-script; cat ${record}`, 60_000);
  return r.stdout;
}

const leases = (): Record<string, unknown>[] => (gw!.status()['dhcpServer'] as { leases: Record<string, unknown>[] }).leases;

labTest('dhclient and udhcpc get different addresses from the range, the router and the gateway as name server; a static MAC gets its address', async (t) => {
  const a = await dhclient('dc1');
  t.regex(a, /BOUND 192\.168\.0\.100 192\.168\.0\.1 192\.168\.0\.1 lan/, a);
  const b = await udhcpc('dc2', 'desktop');
  t.regex(b, /bound 192\.168\.0\.101 192\.168\.0\.1 192\.168\.0\.1 lan/, b);
  const c = await udhcpc('dc3', 'ignored');
  t.regex(c, /bound 192\.168\.0\.50 /, c);
  const list = leases().map((l) => `${String(l['address'])} ${String(l['hostname'])} ${String(l['static'])}`);
  t.deepEqual(list, ['192.168.0.50 printer true', '192.168.0.100 laptop false', '192.168.0.101 desktop false']);
  // The client reaches the WAN through the gateway with its leased address.
  const ping = await lab!.shAsync(lab!.lan, `ip route replace default via 192.168.0.1 dev dc1; ping -c 1 -W 3 ${WAN_HOST}`);
  t.is(ping.code, 0, ping.stderr);
});

labTest('dig through the forwarder: forwarded once, then from the cache with the TTL counting down; NXDOMAIN cached for its SOA minimum; TCP; local names and their reverse', async (t) => {
  const dig = async (args: string): Promise<string> => (await lab!.shAsync(lab!.lan, `dig +tries=1 +time=3 @192.168.0.1 ${args}`)).stdout;
  const asked = (name: string): number => lab!.read('dnsmasq.log').split('\n').filter((l) => l.includes(`auth[A] ${name} `)).length;
  const first = await dig('www.lab.test');
  t.regex(first, /www\.lab\.test\.\s+300\s+IN\s+A\s+203\.0\.113\.1/, first);
  await new Promise((r) => setTimeout(r, 2100));
  const second = await dig('www.lab.test');
  const ttl = Number(/www\.lab\.test\.\s+(\d+)\s+IN\s+A/.exec(second)?.[1]);
  t.true(ttl <= 298 && ttl >= 290, `TTL counted down: ${ttl}`);
  t.is(asked('www.lab.test'), 1, 'the upstream was asked once');
  const nx = await dig('nope.lab.test');
  t.regex(nx, /status: NXDOMAIN/);
  const nx2 = await dig('nope.lab.test');
  t.regex(nx2, /status: NXDOMAIN/);
  t.is(asked('nope.lab.test'), 1, 'NXDOMAIN came from the cache the second time');
  t.regex(await dig('+tcp www.lab.test'), /203\.0\.113\.1/, 'DNS over TCP');
  t.regex(await dig('laptop.lan'), /laptop\.lan\.\s+\d+\s+IN\s+A\s+192\.168\.0\.100/, 'a DHCP client\'s host name');
  t.regex(await dig('printer.lan'), /192\.168\.0\.50/, 'a static entry\'s host name');
  t.regex(await dig('gateway.lan'), /192\.168\.0\.1\b/, 'the gateway\'s own name');
  t.regex(await dig('-x 192.168.0.100'), /PTR\s+laptop\.lan\./, 'reverse lookup');
  t.regex(await dig('unknown.lan'), /status: NXDOMAIN/, 'the LAN domain is ours: unknown names do not leak upstream');
  // Garbage is counted and dropped, never answered or fatal.
  await lab!.shAsync(lab!.lan, `python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'\\x12\\x34garbage', ('192.168.0.1', 53))"`);
  await new Promise((r) => setTimeout(r, 300));
  const dns = gw!.status()['dns'] as { counters: Record<string, number> };
  t.true(dns.counters['malformed']! >= 1);
  t.true(dns.counters['cached']! >= 2);
});

labTest('leases survive a SIGKILL: after the restart the server lists them and confirms a client\'s address', async (t) => {
  gw!.proc.kill('SIGKILL');
  await new Promise((r) => gw!.proc.once('exit', r));
  gw = await lab!.startGateway(config());
  await gw.waitFor('dhcp_server_listening', 20_000);
  t.deepEqual(leases().map((l) => l['address']), ['192.168.0.50', '192.168.0.100', '192.168.0.101']);
  // dhclient asks for its old address again (INIT-REBOOT) and gets it.
  const again = await dhclient('dc1');
  t.regex(again.split('\n').filter((l) => l !== '').at(-1) ?? '', /^(REBOOT|BOUND|RENEW) 192\.168\.0\.100 /, again);
});

labTest('an upstream that does not answer is passed over: the next one answers, and later queries go there first', async (t) => {
  await gw!.stop();
  gw = await lab!.startGateway(`${config()}\n[dns]\nupstream = ["203.0.113.9", "${WAN_HOST}"]\n`);
  await gw.waitFor('dns_forwarder', 20_000);
  const first = await lab!.shAsync(lab!.lan, 'dig +tries=1 +time=8 @192.168.0.1 www.lab.test');
  t.regex(first.stdout, /203\.0\.113\.1/, first.stdout);
  const before = Date.now();
  const second = await lab!.shAsync(lab!.lan, 'dig +tries=1 +time=8 @192.168.0.1 other.lab.test');
  t.regex(second.stdout, /status: NXDOMAIN/);
  t.true(Date.now() - before < 1500, 'the silent server was not waited for again');
  const dns = gw.status()['dns'] as { counters: Record<string, number> };
  t.is(dns.counters['upstreamTimeouts'], 1);
  t.like(await gw.waitFor('dns_upstream_silent', 1000), { server: '203.0.113.9' });
});

labTest('a damaged lease file is reported and moved aside; the server starts afresh', async (t) => {
  await gw!.stop();
  const file = join(lab!.dir, 'state', 'dhcp-leases.json');
  writeFileSync(file, '[{"client": "02:00:00:00:00:01", "mac": tru');
  gw = await lab!.startGateway(config());
  t.like(await gw.waitFor('dhcp_lease_file_damaged', 10_000), { file });
  t.true(existsSync(`${file}.damaged`));
  await gw.waitFor('dhcp_server_listening', 10_000);
  t.deepEqual(leases().map((l) => l['address']), ['192.168.0.50'], 'only the static entry');
  t.regex(await udhcpc('dc2', 'desktop'), /bound 192\.168\.0\.\d+ /);
});
