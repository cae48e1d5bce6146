// The PPP WAN against a real ISP: Debian's pppd in a QEMU guest, reached through the Hayes
// modem emulator on a pty (test/lab/ppp-lab.ts). One guest serves every test in this file.

import test from 'ava';
import { requireLab, type GatewayProcess } from '../lab/netlab.js';
import { ISP_ADDRESS, PppLab } from '../lab/ppp-lab.js';

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
  const page = await lab!.net.shAsync(lab!.net.lan, `curl -sS --retry 3 --retry-all-errors -m 20 http://${ISP_ADDRESS}/`);
  t.regex(page.stdout, /hello from the ISP/);
  t.regex(lab!.guest.console(), /PAP peer authentication succeeded for gateway/);
});
