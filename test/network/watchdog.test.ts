// The link watchdog on an Ethernet WAN: the WAN host stops answering pings, the gateway misses
// them, shows it on the LEDs, restarts the WAN (neighbours learned again), and says so; when
// the host answers again, it is happy. And `ping` from the console's command registry.

import test from 'ava';
import { requireLab, NetLab, WAN_HOST, type GatewayProcess } from '../lab/netlab.js';

const why = requireLab();
const lab = why === undefined ? new NetLab('wd') : undefined;
const labTest = why === undefined ? test.serial : test.skip;
let gw: GatewayProcess | undefined;

test.before(async () => {
  if (lab === undefined) return;
  gw = await lab.startGateway(lab.gatewayConfig('static', `\n[watchdog]\nhost = "${WAN_HOST}"\ninterval = 1\nfailures = 3\n`));
});

test.after.always(async () => {
  await gw?.stop();
  lab?.destroy();
});

labTest('pings that stop being answered restart the WAN; answers again bring it back to ok', async (t) => {
  const g = gw!;
  await g.waitFor('watchdog_on');
  // The first probes are answered.
  await new Promise((r) => setTimeout(r, 2500));
  t.is((g.status()['watchdog'] as Record<string, unknown>)['ok'], true);
  lab!.sh(lab!.wan, 'sysctl -qw net.ipv4.icmp_echo_ignore_all=1');
  try {
    await g.waitFor('watchdog_missed');
    t.is((g.status()['leds'] as { showing: Record<string, string> }).showing['wan'], 'watchdog', 'the WAN LED says the watchdog is failing');
    const restart = await g.waitFor('watchdog_restart_wan', 15_000);
    t.is(g.logs.filter((r) => r['event'] === 'watchdog_missed').length >= 3, true);
    t.is(restart['host'], WAN_HOST);
    const wan = await g.waitFor('wan_restart', 5_000);
    t.is(wan['part'], 'wan');
    t.regex(String(wan['how']), /neighbours learned again/);
  } finally {
    lab!.sh(lab!.wan, 'sysctl -qw net.ipv4.icmp_echo_ignore_all=0');
  }
  await g.waitFor('watchdog_ok', 10_000);
  t.is((g.status()['leds'] as { showing: Record<string, string> }).showing['wan'], 'up');
});
