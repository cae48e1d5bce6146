// The serial console, driven through a pty as a person would: type, read the screen. The lab's
// gateway runs with --console on one end of a pty pair (socat); the test is the terminal on the
// other. A password, help and completion, a flow in `masq` and in `gateway status --json
// --flows`, a policy drop in `drops`, `config reload` of a new port forward, `portfw add` saved
// back into gateway.toml with its comments, the log above the prompt.

import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Terminal } from '../lib/terminal.js';
import { requireLab, LAN_HOST, NetLab, WAN_GATEWAY, WAN_HOST, type GatewayProcess } from '../lab/netlab.js';

const why = requireLab();
const lab = why === undefined ? new NetLab('co') : undefined;
const labTest = why === undefined ? test.serial : test.skip;
let gw: GatewayProcess | undefined;
let term: Terminal | undefined;
const type = (keys: string, expect: RegExp, timeoutMs?: number): Promise<string> => term!.type(keys, expect, timeoutMs);



test.before(async () => {
  if (lab === undefined) return;
  lab.file('lanwww/index.html', 'hello from the LAN\n');
  lab.background(lab.lan, `python3 -u -m http.server 80 --bind 0.0.0.0 --directory ${lab.dir}/lanwww`, 'lan-web.log');
  lab.dnsmasq();
  lab.background(lab.gw, `socat PTY,link=${lab.dir}/console-gw,raw,echo=0 PTY,link=${lab.dir}/console-user,raw,echo=0`, 'socat.log');
  await lab.shAsync(lab.gw, `for i in $(seq 100); do [ -e ${lab.dir}/console-user ] && break; sleep 0.05; done`);
  gw = await lab.startGateway(`# the lab's gateway\n${lab.gatewayConfig('static', '\n[console]\npassword = "open sesame"   # asked first\n')}`, ['--console', join(lab.dir, 'console-gw')]);
  term = new Terminal(join(lab.dir, 'console-user'));
  await new Promise((r) => setTimeout(r, 300));
});

test.after.always(async () => {
  term?.close();
  await gw?.stop();
  lab?.destroy();
});

labTest('the password is asked first, a wrong one is refused, slowed down and logged without the password', async (t) => {
  await type('\r', /password: /);
  await type('abracadabra\r', /wrong password; wait 1 s/);
  t.notRegex(term!.raw, /abracadabra/, 'never echoed');
  const failed = await gw!.waitFor('console_login_failed');
  t.false(JSON.stringify(failed).includes('abracadabra'));
  await new Promise((r) => setTimeout(r, 1100));
  await type('open sesame\r', /logged in[\s\S]*gateway \(wan up\)> $/);
  t.regex(String(gw!.logs.find((r) => r['event'] === 'gateway_started')?.['msg']), /gateway ready/, 'the log says "gateway ready" (DESIGN.md, contract 2)');
  t.false(gw!.logs.some((r) => JSON.stringify(r).includes('open sesame')), 'the password never reaches the log');
});

labTest('help lists every command; tab completes; status says how things are', async (t) => {
  const help = await type('help\r', /reboot[\s\S]*> $/);
  for (const c of ['status', 'masq', 'drops', 'portfw', 'ppp', 'dhcp', 'arp', 'log', 'config', 'leds', 'reboot']) {
    if (c === 'ppp' || c === 'dhcp') continue; // each WAN type has its own
    t.regex(help, new RegExp(`^${c}\\s`, 'm'), c);
  }
  await type('ma\t', /masq $/);
  await type('\x15', /> $/); // Ctrl-U clears the line
  const status = await type('status\r', /flows \d+[\s\S]*> $/);
  t.regex(status, /gateway up /);
  t.regex(status, new RegExp(`WAN ethernet wan0: ${WAN_GATEWAY}/24 via ${WAN_HOST} \\(static\\)`));
  t.regex(status, /LEDs: status running, wan up/);
  const memory = /memory (\d+(?:\.\d)?) MB resident \(JavaScript heap (\d+(?:\.\d)?) of (\d+(?:\.\d)?) MB\)/.exec(status);
  t.truthy(memory, status);
  t.true(Number(memory![1]) > Number(memory![3]) && Number(memory![2]) <= Number(memory![3]), memory![0]);
});

labTest('a flow opened from the LAN shows in masq and in gateway status --json --flows', async (t) => {
  const r = await lab!.shAsync(lab!.lan, `dig +short +time=2 +tries=1 @${WAN_HOST} www.lab.test`);
  t.is(r.stdout.trim(), WAN_HOST, r.stderr);
  const masq = await type(`masq udp ${LAN_HOST}\r`, /\d+ flows?[\s\S]*> $/);
  t.regex(masq, new RegExp(`UDP\\s+00:02:\\d\\d\\s+${LAN_HOST.replace(/\./g, '\\.')}:\\d+\\s+\\d+\\s+${WAN_HOST.replace(/\./g, '\\.')}:53\\s+REPLIED\\s+\\d+\\s+masquerade`));
  const json = JSON.parse(execFileSync('ip', ['netns', 'exec', lab!.gw, join(import.meta.dirname, '../../../node_modules/.bin/node'), join(import.meta.dirname, '../../firmware/main.js'), 'status', '--json', '--flows', '--control', join(lab!.dir, 'control.sock')], { encoding: 'utf8' })) as { flows: { inside: string; remote: string; protocol: string }[] };
  t.true(json.flows.some((f) => f.protocol === 'udp' && f.inside.startsWith(`${LAN_HOST}:`) && f.remote === `${WAN_HOST}:53`), JSON.stringify(json.flows));
  const text = execFileSync('ip', ['netns', 'exec', lab!.gw, join(import.meta.dirname, '../../../node_modules/.bin/node'), join(import.meta.dirname, '../../firmware/main.js'), 'status', '--control', join(lab!.dir, 'control.sock')], { encoding: 'utf8' });
  t.regex(text, /^gateway up /, 'gateway status without --json is the summary for people');
});

labTest('ping from the gateway itself reaches the WAN host through the host link and the core', async (t) => {
  const out = await type(`ping ${WAN_HOST}\r`, /of 3 answered[\s\S]*> $/);
  t.regex(out, new RegExp(`3 of 3 answered by ${WAN_HOST.replace(/\./g, '\\.')}`));
  t.regex(out, /seq 1: \d+\.\d ms/);
});

labTest('a packet dropped by policy shows in drops with its reason and addresses', async (t) => {
  await lab!.shAsync(lab!.wan, `curl -s --max-time 1 http://${WAN_GATEWAY}:4444/; true`);
  const drops = await type('drops\r', /last dropped:[\s\S]*> $/);
  t.regex(drops, new RegExp(`noFlow\\s+\\d+`));
  t.regex(drops, new RegExp(`wan0\\s+noFlow\\s+${WAN_HOST.replace(/\./g, '\\.')}:\\d+ → ${WAN_GATEWAY.replace(/\./g, '\\.')}:4444 tcp`));
});

labTest('config reload applies a new port forward from the edited file', async (t) => {
  const file = join(lab!.dir, 'gateway.toml');
  const before = await lab!.shAsync(lab!.wan, `curl -sS --max-time 2 http://${WAN_GATEWAY}:8080/index.html`);
  t.not(before.code, 0, 'not forwarded yet');
  writeFileSync(file, `${readFileSync(file, 'utf8')}\n[[portfw]]\nprotocol = "tcp"\nport = 8080\nto = "${LAN_HOST}:80"\n`);
  await type('config reload\r', /applied: \[\[portfw\]\][\s\S]*> $/);
  const after = await lab!.shAsync(lab!.wan, `curl -sS --max-time 5 http://${WAN_GATEWAY}:8080/index.html`);
  t.is(after.stdout, 'hello from the LAN\n', after.stderr);
});

labTest('portfw add works at once, and config save writes it into gateway.toml keeping the comments', async (t) => {
  await type(`portfw add udp 5353 ${LAN_HOST}:53\r`, /udp 5353 → 192\.168\.0\.100:53[\s\S]*> $/);
  const refused = await type('portfw add tcp 80 10.9.9.9:80\r', /error: .*not on the LAN[\s\S]*> $/);
  t.regex(refused, /10\.9\.9\.9 is not on the LAN/);
  await type('config save\r', /saved to [\s\S]*> $/);
  const text = readFileSync(join(lab!.dir, 'gateway.toml'), 'utf8');
  t.regex(text, /^# the lab's gateway$/m);
  t.regex(text, /password = "open sesame"   # asked first/);
  t.regex(text, /\[\[portfw\]\]\nprotocol = "udp"\nport = 5353\nto = "192\.168\.0\.100:53"/);
  t.regex(text, /\[\[portfw\]\]\nprotocol = "tcp"\nport = 8080\nto = "192\.168\.0\.100:80"/);
  const check = await type('config check\r', /: ok[\s\S]*> $/);
  t.regex(check, /gateway\.toml: ok/);
  const shown = await type('config show\r', /\[secret\][\s\S]*> $/);
  t.notRegex(shown, /open sesame/, 'config show hides the password');
});

labTest('log lines appear above the line being typed, which stays; log tail; the level', async (t) => {
  await type('log debug\r', /log level debug[\s\S]*> $/);
  await type('sta', /sta$/);
  // The LAN cable out and in: the gateway logs it while "sta" is half typed.
  lab!.sh(lab!.gw, 'ip link set lan0 down; sleep 1.5; ip link set lan0 up');
  const seen = await type('', /link_state[^\n]*up=true[\s\S]*gateway \(wan up\)> sta$/, 10_000);
  t.regex(seen, /link_state link=lan0 up=false/);
  const tail = await type('\x15log tail 50\r', /> $/);
  t.regex(tail, /console_login/);
  t.regex(tail, /link_state link=lan0 up=false/);
  await type('log info\r', /log level info/);
});
