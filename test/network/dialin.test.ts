// Dial-in on a second modem (issue 16): the Hayes emulator rings the gateway's answering modem
// and, on ATA, joins the line to a caller in a QEMU guest: Debian's pppd (CHAP, PAP) or a
// scripted login and slattach (SLIP, CSLIP). The caller reaches the WAN through the masquerade,
// and LAN hosts reach the caller through proxy ARP. One guest serves every test in this file.

import { createConnection } from 'node:net';
import { join } from 'node:path';
import test from 'ava';
import { askGateway } from '../../firmware/control/socket.js';
import { BOB_ADDRESS, DialinLab } from '../lab/dialin-lab.js';
import { LAN_HOST, requireLab, WAN_HOST, type GatewayProcess } from '../lab/netlab.js';
import { ISP_ADDRESS, PppLab } from '../lab/ppp-lab.js';

const why = requireLab();
const labTest = why === undefined ? test.serial : test.skip;
let lab: DialinLab | undefined;
let gw: GatewayProcess | undefined;
let isp: PppLab | undefined;
const POOL_FIRST = '192.168.0.240';

test.before(async () => {
  if (why !== undefined) return;
  lab = await DialinLab.create('di');
  lab.net.file('www/hello.txt', 'hello from the WAN\n');
  lab.net.file('www/64k.bin', 'x'.repeat(65536));
  lab.net.webServer(lab.net.wan, 'web.log');
  gw = await lab.net.startGateway(lab.net.gatewayConfig('static', lab.dialinConfig()));
  await gw.waitFor('dialin_modem_open', 20_000);
});

test.after.always(async () => {
  await gw?.stop();
  isp?.modem.stop();
  isp?.guest.stop();
  lab?.destroy();
});

const calls = (): Record<string, unknown>[] => (gw!.status()['dialin'] as { calls: Record<string, unknown>[] }).calls;
const nth = (event: string, n: number, timeoutMs: number): Promise<Record<string, unknown>> =>
  gw!.waitFor(event, timeoutMs, (r) => gw!.logs.filter((x) => x['event'] === event).indexOf(r) >= n - 1);
const count = (event: string): number => gw!.logs.filter((r) => r['event'] === event).length;
const command = (name: string, ...args: string[]): Promise<unknown> => askGateway(join(lab!.net.dir, 'control.sock'), { command: name, args }, (p) => createConnection(p));

/** The caller's own side is up too: pppd ran its ip-up script (its default route is set). */
const callerUp = (address: string): Promise<string> => lab!.guest.waitFor(new RegExp(`^ip-up ${address.replace(/\./g, '\\.')} 192\\.168\\.0\\.1$`), 30_000, lab!.callEvents);

/** Each test starts with the modem idle: a call a failed test left up is dropped. */
test.beforeEach(async () => {
  if (lab === undefined || gw === undefined || calls().length === 0) return;
  await lab.modem.dropCarrier();
  await gw.waitFor('dialin_hangup_done', 30_000, (r) => gw!.logs.indexOf(r) > gw!.logs.findLastIndex((x) => x['event'] === 'dialin_call_end'));
});

/** The LAN host reaches `address` (no route to the pool: only proxy ARP can make it work). */
async function lanPings(address: string): Promise<boolean> {
  const r = await lab!.net.shAsync(lab!.net.lan, `ip neigh flush all; ping -c 2 -W 3 ${address}`);
  return r.code === 0;
}

labTest('a PPP caller with CHAP: answered on the second ring, gets the first pool address, reaches the WAN masqueraded, pings and is pinged by a LAN host, also after the LAN port is unplugged and plugged back; hangup ends it', async (t) => {
  const ends = count('dialin_call_end');
  await lab!.call('chap alice wonderland');
  const up = await nth('dialin_call_up', count('dialin_call_up') + 1, 90_000);
  t.like(up, { user: 'alice', address: POOL_FIRST, protocol: 'ppp' });
  await callerUp(POOL_FIRST);
  t.regex(lab!.guest.console(), /CHAP authentication succeeded/);
  t.true(lab!.modem.transcript.some((x) => x.line === 'ATA'), 'answered with ATA');
  t.is(await lab!.run(`wget -q -O - http://${WAN_HOST}/hello.txt`), 0, 'the caller fetches a page from the WAN server');
  t.regex(lab!.net.read('web.log'), /203\.0\.113\.2 .*GET \/hello\.txt/, 'the server saw the gateway\'s WAN address');
  t.is(await lab!.run(`ping -c 2 -W 5 ${LAN_HOST}`), 0, 'the caller pings a LAN host');
  t.true(await lanPings(POOL_FIRST), 'a LAN host with no route to the pool pings the caller (proxy ARP)');
  // The LAN port unplugged and plugged back mid-call (a new interface): proxy ARP is set on it again.
  const lost = count('lan_lost');
  const ports = count('lan_port');
  lab!.net.unplug('lan0');
  await nth('lan_lost', lost + 1, 10_000);
  lab!.net.plugIn('lan0');
  await nth('lan_port', ports + 1, 10_000);
  t.true(await lanPings(POOL_FIRST), 'a LAN host pings the caller after the LAN port was unplugged and plugged back');
  // Without TCP timestamps (which change in every segment, so Linux's slhc never compresses them),
  // a download crosses VJ-compressed both ways: our decompressor against Linux's compressor, and back.
  t.is(await lab!.run(`echo 0 >/proc/sys/net/ipv4/tcp_timestamps; wget -q -O /tmp/64k http://${WAN_HOST}/64k.bin && [ "$(wc -c </tmp/64k)" = 65536 ]`), 0);
  const [call] = calls();
  t.like(call, { id: 'call1', user: 'alice', address: POOL_FIRST, protocol: 'ppp' });
  t.true((call!['bytesIn'] as number) > 0 && (call!['bytesOut'] as number) > 0);
  const ipcp = await gw!.waitFor('dialin_ipcp', 10_000);
  t.like(ipcp, { vjToCaller: true, vjFromCaller: true, dnsForCaller: [WAN_HOST] }, 'VJ compression agreed both ways with Debian pppd');
  t.regex(lab!.guest.console(), /primary\s+DNS address 203\.0\.113\.1/, 'the caller got its name server from IPCP (RFC 1877)');
  t.deepEqual(await command('hangup', String(call!['id'])), { hungUp: call!['id'] });
  await nth('dialin_call_end', ends + 1, 20_000);
  const down = await gw!.waitFor('dialin_ppp_down', 5000);
  t.true((down['vjCompressedIn'] as number) > 20 && (down['vjCompressedOut'] as number) > 20, `VJ-compressed segments: ${String(down['vjCompressedIn'])} in, ${String(down['vjCompressedOut'])} out`);
  t.is(down['vjErrors'], 0);
  t.deepEqual(calls(), []);
  t.false(await lanPings(POOL_FIRST), 'proxy ARP stopped with the call');
  t.false(JSON.stringify(gw!.logs).includes('wonderland'), 'the password never reaches the log');
});

labTest('a wrong password is refused and the line hung up; the modem answers the next call (PAP), which gets the address back', async (t) => {
  t.timeout(240_000);
  const failures = count('dialin_auth_failed');
  const ends = count('dialin_call_end');
  const id = await lab!.call('pap alice wrong-password');
  await nth('dialin_auth_failed', failures + 1, 60_000);
  await lab!.guest.waitFor(new RegExp(`^caller-exit ${id} `), 30_000);
  await nth('dialin_call_end', ends + 1, 30_000);
  await gw!.waitFor('dialin_hangup_done', 30_000, (r) => gw!.logs.indexOf(r) > gw!.logs.findLastIndex((x) => x['event'] === 'dialin_call_end') - 1);
  const ups = count('dialin_call_up');
  await lab!.call('pap alice wonderland');
  const up = await nth('dialin_call_up', ups + 1, 90_000);
  t.like(up, { user: 'alice', address: POOL_FIRST });
  await callerUp(POOL_FIRST);
  t.regex(lab!.guest.console(), /PAP authentication succeeded/);
  t.regex(lab!.guest.console(), /sent \[LCP ConfNak id=0x1 <auth chap MS-v2>\][^]*rcvd \[LCP ConfReq id=0x2 [^\]]*<auth pap>/, 'the caller refused CHAP-MD5, so the gateway asked for PAP');
  t.is(await lab!.run(`wget -q -O - http://${WAN_HOST}/hello.txt`), 0);
  // The carrier drops mid-call: the call ends, the address returns to the pool, proxy ARP stops.
  await lab!.modem.dropCarrier();
  await nth('dialin_call_end', ends + 2, 30_000);
  t.deepEqual(calls(), []);
  t.false(await lanPings(POOL_FIRST));
});

labTest('SLIP: a scripted login, "slip", the address and MTU told in text; a fixed-address user; CSLIP compresses', async (t) => {
  t.timeout(240_000);
  for (const [kind, user, password, address] of [['slip', 'bob', 'builder', BOB_ADDRESS], ['cslip', 'alice', 'wonderland', POOL_FIRST]] as const) {
    const ends = count('dialin_call_end');
    const ups = count('dialin_call_up');
    const id = await lab!.call(`${kind} ${user} ${password}`);
    await lab!.guest.waitFor(new RegExp(`^slip-up ${id} ${address.replace(/\./g, '\\.')}$`), 90_000);
    t.like(await nth('dialin_call_up', ups + 1, 30_000), { user, address, protocol: kind, mtu: 1006 });
    // Without TCP timestamps, so that CSLIP has something to compress (see the CHAP test).
    t.is(await lab!.run(`echo 0 >/proc/sys/net/ipv4/tcp_timestamps; wget -q -O /tmp/64k http://${WAN_HOST}/64k.bin && [ "$(wc -c </tmp/64k)" = 65536 ]`), 0, `${kind}: the caller downloads a file`);
    t.is(await lab!.run(`ping -c 2 -W 5 ${LAN_HOST}`), 0, `${kind}: the caller pings a LAN host`);
    t.true(await lanPings(address), `${kind}: a LAN host pings the caller`);
    const downs = count('dialin_slip_down');
    await lab!.modem.dropCarrier();
    const end = await nth('dialin_slip_down', downs + 1, 30_000);
    if (kind === 'cslip') t.true((end['compressedIn'] as number) > 0 && (end['compressedOut'] as number) > 0, 'CSLIP carried compressed TCP both ways');
    await nth('dialin_call_end', ends + 1, 30_000);
  }
});

labTest('dial-out and dial-in at once: the WAN on a PPP modem, a caller on the second; the caller reaches the ISP and resolves names through the gateway', async (t) => {
  t.timeout(300_000);
  await gw!.stop();
  // A second guest is the ISP, on a second modem emulator, in the same namespaces.
  isp = await PppLab.attach(lab!.net, 115_200);
  gw = await lab!.net.startGateway(`${isp.config()}\n${lab!.dialinConfig().replace('dns = ["203.0.113.1"]', '')}`);
  await gw.waitFor('wan_address', 90_000);
  await gw.waitFor('dialin_modem_open', 20_000);
  await lab!.call('chap alice wonderland');
  t.like(await gw.waitFor('dialin_call_up', 90_000), { user: 'alice', address: POOL_FIRST });
  await callerUp(POOL_FIRST);
  t.like(await gw.waitFor('dialin_ipcp', 10_000), { dnsForCaller: ['192.168.0.1'] }, 'the gateway itself, where its DNS forwarder answers');
  t.is(await lab!.run(`wget -q -O - http://${ISP_ADDRESS}/`), 0, 'the caller reaches the ISP through the PPP WAN');
  t.is(await lab!.run('nslookup www.isp.test 192.168.0.1 | grep -q 10.64.0.1'), 0, 'the caller resolves a name through the gateway, which asks the ISP\'s name servers');
  const page = await lab!.net.shAsync(lab!.net.lan, `curl -sS -m 20 http://${ISP_ADDRESS}/`);
  t.regex(page.stdout, /hello from the ISP/, 'and the LAN still does');
  const st = gw.status() as Record<string, unknown>;
  t.is((st['ppp'] as Record<string, unknown>)['state'], 'up');
  t.is((st['dialin'] as { calls: unknown[] }).calls.length, 1);
});
