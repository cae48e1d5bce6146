// What `gateway run` does to the host, it undoes: on a clean stop and on a start that fails
// half-way, the WAN port gets back the address and default route it had (a Pi reached over SSH
// must not be cut off), sysctls and the LAN address return to what they were, the host link
// goes. Not being root is said plainly, before anything is touched.

import test from 'ava';
import { join } from 'node:path';
import { requireLab, NetLab } from '../lab/netlab.js';

const why = requireLab();
const lab = why === undefined ? new NetLab('hr') : undefined;
const labTest = why === undefined ? test.serial : test.skip;
const REPO = join(import.meta.dirname, '..', '..', '..');
const NODE = join(REPO, 'node_modules/.bin/node');
const MAIN = join(REPO, 'dist/firmware/main.js');

/** The gateway namespace's host state that the gateway touches. */
function hostState(): string {
  return lab!.sh(lab!.gw, [
    'ip -o -4 addr show dev lan0 | awk \'{print "lan0", $4}\'',
    'ip -o -4 addr show dev wan0 | awk \'{print "wan0", $4}\'',
    'ip -4 route show default',
    'sysctl -n net.ipv4.ip_forward net.ipv4.conf.wan0.arp_ignore net.ipv4.conf.wan0.rp_filter net.ipv4.conf.all.rp_filter net.ipv6.conf.wan0.disable_ipv6',
    'ip -o link show gw-host >/dev/null 2>&1 && echo host-link || echo no-host-link',
    'ethtool -k wan0 | grep -E "^(rx-checksumming|tx-checksumming|scatter-gather|tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload):"',
    'ethtool -k lan0 | grep -E "^(rx-checksumming|tx-checksumming|generic-receive-offload):"',
  ].join('; '));
}

test.before(() => {
  if (lab === undefined) return;
  // As a Pi set up by hand might be: an address and a default route on the WAN port, forwarding on.
  lab.sh(lab.gw, 'ip addr add 203.0.113.2/24 dev wan0; ip route add default via 203.0.113.1; sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.wan0.disable_ipv6=0 net.ipv4.conf.wan0.arp_ignore=0 net.ipv4.conf.all.rp_filter=2');
});

test.after.always(() => lab?.destroy());

labTest('a clean stop gives back the WAN address and default route, the sysctls, and removes the LAN address it added', async (t) => {
  const before = hostState();
  t.regex(before, /wan0 203\.0\.113\.2\/24/);
  t.regex(before, /default via 203\.0\.113\.1/);
  const gw = await lab!.startGateway(lab!.gatewayConfig('static'));
  const during = hostState();
  t.notRegex(during, /wan0 /, 'the kernel holds no WAN address while the core owns it');
  t.regex(during, /lan0 192\.168\.0\.1\/24/);
  t.regex(during, /host-link/);
  await gw.stop();
  t.is(hostState(), before);
});

labTest('killed (SIGKILL), restarted and stopped: the host is as it was before the first start', async (t) => {
  const before = hostState();
  const first = await lab!.startGateway(lab!.gatewayConfig('static'));
  t.not(hostState(), before);
  first.proc.kill('SIGKILL');
  await new Promise((r) => first.proc.once('exit', r));
  t.regex(lab!.sh(lab!.gw, `cat ${lab!.dir}/host-changes.json`), /"kind":"sysctl"/, 'the journal outlived the process');
  const second = await lab!.startGateway(lab!.gatewayConfig('static'));
  t.truthy(second.logs.find((l) => l['event'] === 'host_changes_adopted'));
  await second.stop();
  t.is(hostState(), before);
  t.is(lab!.sh(lab!.gw, `ls ${lab!.dir}`).includes('host-changes.json'), false, 'a clean stop removes the journal');
});

labTest('a start that fails half-way (the control socket cannot be created) undoes what it did', async (t) => {
  const before = hostState();
  const config = lab!.file('gateway-fails.toml', lab!.gatewayConfig('static'));
  const r = await lab!.shAsync(lab!.gw, `${NODE} ${MAIN} run --config ${config} --state-dir ${lab!.dir}/state --control /dev/null/control.sock`);
  t.is(r.code, 1, r.stdout);
  t.regex(r.stderr, /^gateway: control socket \/dev\/null\/control\.sock: /m, 'the error names what failed');
  t.regex(r.stdout, /"event":"start_failed"/);
  t.is(hostState(), before, 'addresses, routes, sysctls and links as they were');
});

labTest('not root: said as such, and nothing is touched', async (t) => {
  const before = hostState();
  // Where the unprivileged user can read it (the lab's folder is root's).
  const config = lab!.file('gateway-user.toml', lab!.gatewayConfig('static'));
  const readable = `/tmp/gw-nobody-${process.pid}.toml`;
  const r = await lab!.shAsync(lab!.gw, `install -m 644 ${config} ${readable}; setpriv --reuid 65534 --regid 65534 --clear-groups ${NODE} ${MAIN} run --config ${readable} --state-dir /tmp/gw-nobody --control /tmp/gw-nobody.sock; code=$?; rm -f ${readable}; exit $code`);
  t.is(r.code, 1, r.stdout);
  t.regex(r.stderr, /needs root/);
  t.notRegex(r.stderr, /EACCES/);
  t.is(hostState(), before);
});
