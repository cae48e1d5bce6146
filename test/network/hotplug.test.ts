// Plugging in at any time, on real interfaces: the gateway started with its WAN interface
// missing waits for it ("WAN not found"), takes it when it is created, lets it go when it is
// deleted (a USB dongle pulled out) and takes it again when it comes back, forwarding each time.
// The LAN port likewise. The modem's counterpart is in ppp-wan.test.ts.

import test from 'ava';
import { requireLab, NetLab, WAN_HOST, type GatewayProcess } from '../lab/netlab.js';

const why = requireLab();
const labTest = why === undefined ? test.serial : test.skip;
const lab = why === undefined ? new NetLab('hp') : undefined;
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

const count = (g: GatewayProcess, event: string): number => g.logs.filter((r) => r['event'] === event).length;

async function fetches(): Promise<boolean> {
  const r = await lab!.shAsync(lab!.lan, `curl -sS --retry 5 --retry-all-errors --retry-delay 1 --max-time 5 http://${WAN_HOST}/index.html`);
  return r.stdout === 'hello\n';
}

labTest('a WAN interface created after the gateway started is waited for, taken, let go when deleted, and taken again when it is back', async (t) => {
  lab!.unplug('wan0');
  const g = (gw = await lab!.startGateway(lab!.gatewayConfig('static')));
  const missing = await g.waitFor('wan_not_found', 10_000);
  t.is(missing['interface'], 'wan0');
  const status = g.status() as Record<string, unknown>;
  t.like(status['wan'], { present: false, address: null });
  t.is((status['leds'] as { showing: Record<string, string> }).showing['wan'], 'not-found', 'the WAN LED\'s one blink');
  lab!.plugIn('wan0');
  await g.waitFor('wan_address', 10_000);
  t.true(await fetches(), 'forwarding once the WAN is plugged in');
  lab!.unplug('wan0');
  await g.waitFor('wan_lost', 10_000);
  t.like(g.status()['wan'], { present: false, address: null });
  t.is(g.proc.exitCode, null, 'still running');
  lab!.plugIn('wan0');
  await g.waitFor('wan_address', 10_000, () => count(g, 'wan_address') >= 2);
  t.true(await fetches(), 'forwarding again on the new interface');
});

labTest('the LAN port likewise: pulled out and plugged back, the LAN host is served again', async (t) => {
  const g = gw!;
  lab!.unplug('lan0');
  await g.waitFor('lan_lost', 10_000);
  t.is(g.proc.exitCode, null);
  lab!.plugIn('lan0');
  await g.waitFor('lan_port', 10_000, () => count(g, 'lan_port') >= 2);
  t.true(await fetches());
});
