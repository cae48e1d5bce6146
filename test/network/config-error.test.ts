// The appliance with a broken gateway.toml: with a console, `gateway run` touches nothing on the
// host, says what is wrong on the console (and the LEDs show the config error), and starts
// forwarding once the file is fixed and `config reload` is typed.

import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Terminal } from '../lib/terminal.js';
import { requireLab, NetLab, WAN_HOST, type GatewayProcess } from '../lab/netlab.js';

const why = requireLab();
const lab = why === undefined ? new NetLab('ce') : undefined;
const labTest = why === undefined ? test.serial : test.skip;
let gw: GatewayProcess | undefined;
let term: Terminal | undefined;
const type = (keys: string, expect: RegExp, timeoutMs?: number): Promise<string> => term!.type(keys, expect, timeoutMs);



test.after.always(async () => {
  term?.close();
  await gw?.stop();
  lab?.destroy();
});

labTest('a config error keeps the console open and the host untouched; config reload starts the gateway once it is fixed', async (t) => {
  const l = lab!;
  l.background(l.gw, `socat PTY,link=${l.dir}/console-gw,raw,echo=0 PTY,link=${l.dir}/console-user,raw,echo=0`, 'socat.log');
  await l.shAsync(l.gw, `for i in $(seq 100); do [ -e ${l.dir}/console-user ] && break; sleep 0.05; done`);
  const good = l.gatewayConfig('static');
  const broken = good.replace('type = "ethernet"', 'type = "ethernet"\nspeed = "fast"');
  gw = await l.startGateway(broken, ['--console', join(l.dir, 'console-gw')], 'config_error');
  term = new Terminal(join(l.dir, 'console-user'));
  await type('\r', /gateway \(config error\)> $/);
  const check = await type('config check\r', /> $/);
  t.regex(check, /gateway\.toml:\d+: wan\.speed: unknown key/);
  t.is(l.sh(l.gw, 'ip -o -4 addr show dev lan0'), '', 'the LAN address was not added');
  t.false(l.sh(l.gw, 'ip -o link show').includes('gw-host'), 'no host link');
  const still = await type('config reload\r', /> $/);
  t.regex(still, /unknown key/, 'not fixed yet: still waiting');
  writeFileSync(join(l.dir, 'gateway.toml'), good);
  t.true(readFileSync(join(l.dir, 'gateway.toml'), 'utf8').includes('type = "ethernet"'));
  await type('config reload\r', /starting the gateway/);
  await gw.waitFor('gateway_started');
  await type('\r', /gateway \(wan up\)> $/);
  const r = await l.shAsync(l.lan, `ping -c 1 -W 2 ${WAN_HOST}`);
  t.is(r.code, 0, 'forwarding');
});
