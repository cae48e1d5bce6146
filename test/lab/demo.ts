// `make demo`: the whole lab on this machine. A LAN host, the gateway's namespace and a WAN
// namespace with a DHCP + DNS server (dnsmasq) and a web server; the gateway runs in the
// foreground with its log on this terminal. Ctrl-C stops it and removes the lab.

import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { labUnavailable, LAN_HOST, NetLab, WAN_HOST } from './netlab.js';

const REPO = resolve(import.meta.dirname, '../../..');

const why = labUnavailable();
if (why !== undefined) {
  console.error(`make demo: the lab ${why}`);
  process.exit(1);
}

const lab = new NetLab('demo');
lab.file('www/index.html', '<h1>Hello from the WAN server</h1>\n');
lab.webServer(lab.wan, 'web.log');
lab.dnsmasq({ dhcpRange: '203.0.113.50,203.0.113.99,255.255.255.0,1h' });
lab.background(lab.wan, 'iperf3 -s', 'iperf3.log');
const config = lab.file('gateway.toml', `${lab.gatewayConfig('dhcp').replace('level = "debug"', 'level = "info"')}
[[portfw]]
protocol = "tcp"
port = 8080
to = "${LAN_HOST}:80"
`);

const inLan = `ip netns exec ${lab.lan}`;
const inWan = `ip netns exec ${lab.wan}`;
console.log(`
The lab is up. Namespaces: ${lab.lan} (LAN host ${LAN_HOST}), ${lab.gw} (the gateway), ${lab.wan} (WAN server ${WAN_HOST}).
The gateway's config is ${config}; it takes its WAN address from dnsmasq by DHCP.
Try, in another terminal:

  ${inLan} curl http://${WAN_HOST}/            # a page through the masquerade
  ${inLan} ping -c 3 ${WAN_HOST}
  ${inLan} traceroute -n ${WAN_HOST}           # the gateway is the first hop
  ${inLan} dig @${WAN_HOST} www.lab.test
  ${inLan} iperf3 -c ${WAN_HOST}
  cat ${join(lab.dir, 'web.log')}               # the server sees the gateway's WAN address
  ${inLan} python3 -m http.server 80 &          # then, from the WAN, the port forward:
  ${inWan} curl http://<WAN address>:8080/
  ${join(REPO, 'node_modules/.bin/node')} ${join(REPO, 'dist/firmware/main.js')} status --json --control ${join(lab.dir, 'control.sock')}

Ctrl-C stops the gateway (releasing its lease) and removes the lab.
`);

const gw = spawn('ip', ['netns', 'exec', lab.gw, join(REPO, 'node_modules/.bin/node'), join(REPO, 'dist/firmware/main.js'), 'run',
  '--config', config, '--state-dir', join(lab.dir, 'state'), '--control', join(lab.dir, 'control.sock')], { stdio: 'inherit' });

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  if (gw.exitCode === null) gw.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
gw.on('exit', (code) => {
  lab.destroy();
  console.log(`\ngateway exited (${code}); lab removed`);
  process.exit(code ?? 0);
});
