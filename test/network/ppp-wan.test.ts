// The PPP WAN against a real ISP: Debian's pppd in a QEMU guest, reached through the Hayes
// modem emulator on a pty (test/lab/ppp-lab.ts). One guest serves every test in this file.

import test from 'ava';
import { requireLab, type GatewayProcess } from '../lab/netlab.js';
import { ISP_ADDRESS, PppLab } from '../lab/ppp-lab.js';
import { probeModem } from '../../drivers/modem/probe.js';
import { systemClock } from '../../firmware/clock.js';

const why = requireLab();
const labTest = why === undefined ? test.serial : test.skip;
let lab: PppLab | undefined;
let gw: GatewayProcess | undefined;

test.before(async () => {
  if (why === undefined) lab = await PppLab.create('pp', 4_000_000);
});

test.after.always(async () => {
  await gw?.stop();
  lab?.destroy();
});

async function restart(config: string): Promise<GatewayProcess> {
  await gw?.stop();
  await lab!.modem.replacePty();
  gw = await lab!.net.startGateway(config);
  return gw;
}

labTest('PAP: the gateway dials, IPCP gives it its address and DNS servers, the LAN reaches the ISP', async (t) => {
  lab!.modem.auth = 'pap';
  const g = await restart(lab!.config());
  const up = await g.waitFor('wan_address', 60_000);
  t.is(up['address'], '10.64.0.2/32');
  t.deepEqual(up['dns'], ['10.64.0.53', '10.64.0.54']);
  const ppp = g.status()['ppp'] as Record<string, unknown>;
  t.is(ppp['state'], 'up');
  t.like(ppp['ipcp'], { localAddress: '10.64.0.2', peerAddress: ISP_ADDRESS });
  t.deepEqual(ppp['modem'], { signal: { rssi: 21, dbm: -71 }, operator: 'Lab ISP' }, 'AT+CSQ and AT+COPS? reach status');
  const page = await lab!.net.shAsync(lab!.net.lan, `curl -sS --retry 3 --retry-all-errors -m 20 http://${ISP_ADDRESS}/`);
  t.regex(page.stdout, /hello from the ISP/);
  t.regex(lab!.guest.console(), /PAP peer authentication succeeded for gateway/);
});

labTest('DNS over the PPP WAN: the ISP answers at the name servers IPCP gave, and a LAN host resolves through the gateway\'s forwarder', async (t) => {
  const r = await lab!.net.shAsync(lab!.net.lan, 'dig +tries=2 +time=5 @192.168.0.1 www.isp.test');
  t.regex(r.stdout, /www\.isp\.test\.\s+\d+\s+IN\s+A\s+10\.64\.0\.1/, r.stdout + r.stderr);
  const dns = gw!.status()['dns'] as { upstream: string[]; counters: Record<string, number> };
  t.deepEqual(dns.upstream, ['10.64.0.53', '10.64.0.54'], 'the upstream servers came from IPCP');
  t.true(dns.counters['forwarded']! >= 1);
});

/** Waits for the n-th log record of `event` (1-based) that matches `where`. */
async function nth(g: GatewayProcess, event: string, n: number, timeoutMs: number, where: (r: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
  const matching = (): Record<string, unknown>[] => g.logs.filter((r) => r['event'] === event && where(r));
  return g.waitFor(event, timeoutMs, (r) => where(r) && matching().indexOf(r) >= n - 1);
}

const count = (g: GatewayProcess, event: string): number => g.logs.filter((r) => r['event'] === event).length;
const pppStatus = (g: GatewayProcess): Record<string, unknown> => g.status()['ppp'] as Record<string, unknown>;

labTest('CCP and IPv6CP from pppd are answered with Protocol-Reject; the line survives noise and bad frames', async (t) => {
  const g = gw!;
  const console = lab!.guest.console();
  t.regex(console, /Protocol-Reject for 'IPv6 Control Protocol' \(0x8057\) received/);
  t.regex(console, /Protocol-Reject for 'Compression Control Protocol' \(0x80fd\) received/);
  const before = g.status()['links'] as Record<string, number>[];
  const ppp0 = (): Record<string, number> => (g.status()['links'] as Record<string, number>[]).find((l) => (l as Record<string, unknown>)['name'] === 'ppp0')!;
  const badBefore = ppp0()['badFcs']!;
  // Random noise, then a well-formed frame whose FCS is wrong, then more noise ending in a flag.
  const noise = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7919 + 13) & 0xff);
  lab!.modem.inject(noise);
  lab!.modem.inject(Uint8Array.of(0x7e, 0x21, 0x45, 0x00, 0x00, 0x14, 0x12, 0x34, 0x7e));
  lab!.modem.inject(Uint8Array.of(0x00, 0xff, 0x7d, 0x7d, 0x7e));
  const page = await lab!.net.shAsync(lab!.net.lan, `curl -sS --retry 3 --retry-all-errors -m 20 http://${ISP_ADDRESS}/`);
  t.regex(page.stdout, /hello from the ISP/);
  t.true(ppp0()['badFcs']! > badBefore, `bad FCS counted (${JSON.stringify(before)})`);
  t.is(pppStatus(g)['state'], 'up');
  t.is(count(g, 'ppp_down'), 0);
});

labTest('the modem drops carrier mid-transfer: the gateway notices, redials, and the transfer resumes on the same address', async (t) => {
  const g = gw!;
  const upsBefore = count(g, 'wan_address');
  const download = lab!.net.shAsync(lab!.net.lan, `curl -sS -o /dev/null -w '%{size_download}' -m 60 http://${ISP_ADDRESS}/big.bin`, 70_000);
  await new Promise((r) => setTimeout(r, 1500));
  await lab!.modem.dropCarrier();
  const down = await g.waitFor('ppp_down', 10_000);
  t.regex(String(down['reason']), /NO CARRIER/);
  const back = await nth(g, 'wan_address', upsBefore + 1, 30_000);
  // The ISP gave the same address again: flows are kept (ip_dynaddr flushes only on a change),
  // so the TCP connection outlives the redial.
  t.is(back['flowsFlushed'], 0);
  const done = await download;
  t.is(done.code, 0, done.stderr);
  t.is(done.stdout, '4194304');
  t.true(lab!.modem.transcript.filter((e) => e.line === 'ATDT5551234').length >= 2);
});

labTest('a redial with a new address flushes the old flows and traffic leaves from the new one', async (t) => {
  const g = gw!;
  // A live flow: a ping running across the redial.
  await lab!.net.shAsync(lab!.net.lan, `ping -c 2 -i 0.3 ${ISP_ADDRESS}`);
  lab!.modem.address = '10.64.0.3';
  await lab!.modem.dropCarrier();
  const renumbered = await g.waitFor('wan_address', 30_000, (r) => r['address'] === '10.64.0.3/32');
  t.true(Number(renumbered['flowsFlushed']) >= 1, `flows flushed: ${String(renumbered['flowsFlushed'])}`);
  const page = await lab!.net.shAsync(lab!.net.lan, `curl -sS --retry 3 --retry-all-errors -m 20 http://${ISP_ADDRESS}/`);
  t.regex(page.stdout, /hello from the ISP/);
  t.like(pppStatus(g)['ipcp'], { localAddress: '10.64.0.3' });
  lab!.modem.address = '10.64.0.2';
});

labTest('BUSY and NO CARRIER on dialling are retried with a growing back-off', async (t) => {
  const g = gw!;
  const waitsBefore = count(g, 'ppp_redial_wait');
  lab!.modem.dialResults.push('BUSY', 'NO CARRIER');
  await lab!.modem.dropCarrier();
  const upsBefore = count(g, 'wan_address');
  await nth(g, 'wan_address', upsBefore + 1, 40_000);
  const failed = g.logs.filter((r) => r['event'] === 'modem_dial_failed').map((r) => String(r['reason']));
  t.true(failed.some((r) => /BUSY/.test(r)) && failed.some((r) => /NO CARRIER/.test(r)), failed.join('; '));
  const waits = g.logs.filter((r) => r['event'] === 'ppp_redial_wait').slice(waitsBefore).map((r) => Number(r['seconds']));
  // After the carrier loss (a working link: holdoff), BUSY and NO CARRIER back off: 1 s, 2 s.
  t.deepEqual(waits, [1, 1, 2]);
});

labTest('the ISP stops answering LCP echo requests: the gateway gives up interval × failure after the first unanswered one, and redials', async (t) => {
  const g = gw!;
  const upsBefore = count(g, 'wan_address');
  const downsBefore = count(g, 'ppp_down');
  const frozeAt = Date.now();
  await lab!.guest.command('freeze');
  const down = await nth(g, 'ppp_down', downsBefore + 1, 30_000);
  const noticed = (Number(down['time']) - frozeAt) / 1000;
  t.regex(String(down['reason']), /no reply to 3 LCP echo requests/);
  // Echo every 2 s, 3 failures: 6 s from the first unanswered request, as pppd counts them. That
  // request goes out up to one interval after the freeze; 1 s for the lab's own delays.
  t.true(noticed >= 2 * 3 - 1 && noticed <= 2 * 3 + 2 + 1, `noticed after ${noticed} s`);
  await nth(g, 'wan_address', upsBefore + 1, 40_000);
  t.is(pppStatus(g)['state'], 'up');
});

labTest('the watchdog: the ISP stops answering pings, the gateway hangs up and redials', async (t) => {
  const g = await restart(lab!.config({}, `[watchdog]\nhost = "${ISP_ADDRESS}"\ninterval = 1\nfailures = 2\n`));
  await g.waitFor('wan_address', 60_000);
  await lab!.guest.command('icmp off');
  try {
    const restartAt = await g.waitFor('watchdog_restart_wan', 20_000);
    t.is(count(g, 'watchdog_missed') >= 2, true);
    t.regex(String((await g.waitFor('wan_restart', 5_000))['how']), /hang up and redial/);
    const down = await g.waitFor('ppp_down', 10_000, (r) => Number(r['time']) >= Number(restartAt['time']));
    t.regex(String(down['reason']), /watchdog: 10\.64\.0\.1 did not answer 2 pings/);
  } finally {
    await lab!.guest.command('icmp on');
  }
  await nth(g, 'wan_address', 2, 60_000);
  await g.waitFor('watchdog_ok', 20_000);
  t.is((g.status()['watchdog'] as Record<string, unknown>)['ok'], true);
});

labTest('SIGTERM ends the call: LCP Terminate, then +++ and ATH on a line without DTR', async (t) => {
  const from = lab!.modem.transcript.length;
  const log = lab!.guest.console().length;
  await gw!.stop();
  gw = undefined;
  const said = lab!.modem.transcript.slice(from).map((e) => e.line);
  t.deepEqual(said.filter((l) => l === '+++' || /^ATH/.test(l)), ['+++', 'ATH']);
  t.regex(lab!.guest.console(log), /rcvd \[LCP TermReq id=0x[0-9a-f]+ "gateway stopping"\]/);
});

for (const auth of ['pap', 'chap'] as const) {
  labTest(`${auth.toUpperCase()} with a wrong password fails cleanly, is reported, and is retried slowly`, async (t) => {
    lab!.modem.auth = auth;
    const log = lab!.guest.console().length;
    const g = await restart(lab!.config({ password: 'wrong-horse', authRetry: 300 }));
    const failed = await g.waitFor('ppp_auth_failed', 30_000);
    t.regex(String(failed['reason']), /refused/);
    const wait = await g.waitFor('ppp_redial_wait', 10_000, (r) => Number(r['seconds']) >= 300);
    t.is(wait['seconds'], 300);
    const s = pppStatus(g);
    t.true(s['authFailed']);
    t.is(s['state'], 'holdoff');
    t.regex(String(s['lastError']), /authentication failed/);
    t.regex(lab!.guest.console(log), auth === 'pap' ? /PAP peer authentication failed for gateway/ : /sent \[CHAP Failure id=0x[0-9a-f]+ "Access denied"\]/);
    t.false(JSON.stringify(g.logs).includes('wrong-horse'), 'the password never reaches a log');
  });
}

labTest('CHAP with the right password: up, and the LAN reaches the ISP', async (t) => {
  lab!.modem.auth = 'chap';
  const log = lab!.guest.console().length;
  const g = await restart(lab!.config());
  await g.waitFor('wan_address', 60_000);
  t.regex(lab!.guest.console(log), /rcvd \[CHAP Response id=0x[0-9a-f]+ <[0-9a-f]{32}>, name = "gateway"\]\s+sent \[CHAP Success/);
  const page = await lab!.net.shAsync(lab!.net.lan, `curl -sS --retry 3 --retry-all-errors -m 20 http://${ISP_ADDRESS}/`);
  t.regex(page.stdout, /hello from the ISP/);
});

labTest('a SIM PIN is sent once and never logged; a refused PIN stops redialling', async (t) => {
  lab!.modem.auth = 'pap';
  lab!.modem.pin = '4321';
  let g = await restart(lab!.config({ pin: '4321' }));
  await g.waitFor('wan_address', 60_000);
  t.true(lab!.modem.transcript.some((e) => e.line === 'AT+CPIN=****'));
  t.false(JSON.stringify(g.logs).includes('4321'));
  await g.stop();
  lab!.modem.powerCycle();
  g = await restart(lab!.config({ pin: '1111' }));
  const failed = await g.waitFor('modem_failed', 30_000);
  t.regex(String(failed['reason']), /SIM PIN refused \(\+CME ERROR: 16\)/);
  await new Promise((r) => setTimeout(r, 2500));
  t.is(count(g, 'modem_dialling'), 1, `no second attempt with a wrong PIN: ${JSON.stringify(g.logs.slice(-12))}`);
  t.is(pppStatus(g)['state'], 'failed');
  t.false(JSON.stringify(g.logs).includes('1111'));
  lab!.modem.pin = '';
});

labTest('device = "auto": the modem is found by probing serial ports with AT', async (t) => {
  await gw?.stop();
  gw = undefined;
  await lab!.modem.replacePty();
  const found = await probeModem(['/dev/ttyNONEXISTENT', lab!.modem.device], 115200, systemClock);
  t.is(found.device, lab!.modem.device, JSON.stringify(found.attempts));
  t.is(found.attempts.length, 2);
  t.regex(found.attempts[0]!.result, /cannot open/);
});

labTest('plugging in at any time: a modem plugged in after the gateway started, pulled out mid-call and plugged back is waited for ("modem not found"), never given up on', async (t) => {
  await gw?.stop();
  gw = undefined;
  lab!.modem.auth = 'pap';
  await lab!.modem.unplug();
  try {
    const g = (gw = await lab!.net.startGateway(lab!.config()));
    const missing = await g.waitFor('modem_not_found', 10_000);
    t.is(missing['device'], lab!.modem.device);
    await new Promise((r) => setTimeout(r, 3000));
    t.is(count(g, 'modem_not_found'), 1, 'said once, looked for every second');
    t.is(pppStatus(g)['state'], 'not-found');
    t.regex(String(pppStatus(g)['lastError']), /modem not found/);
    t.is((g.status()['leds'] as { showing: Record<string, string> }).showing['wan'], 'not-found', 'the WAN LED\'s one blink');
    await lab!.modem.plugIn();
    await g.waitFor('wan_address', 60_000);
    t.regex((await lab!.net.shAsync(lab!.net.lan, `curl -sS --retry 3 --retry-all-errors -m 20 http://${ISP_ADDRESS}/`)).stdout, /hello from the ISP/);
    // Pulled out mid-call: the call ends, the modem is waited for again.
    await lab!.modem.unplug();
    await g.waitFor('modem_lost', 10_000);
    await nth(g, 'modem_not_found', 2, 20_000);
    t.is(pppStatus(g)['state'], 'not-found');
    await lab!.modem.plugIn();
    await nth(g, 'wan_address', 2, 60_000);
    t.regex((await lab!.net.shAsync(lab!.net.lan, `curl -sS --retry 3 --retry-all-errors -m 20 http://${ISP_ADDRESS}/`)).stdout, /hello from the ISP/);
    t.is(pppStatus(g)['state'], 'up');
  } finally {
    await lab!.modem.plugIn().catch(() => undefined);
  }
});
