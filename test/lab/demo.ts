// `make demo`: the whole lab on this machine. A LAN host, the gateway's namespace and a WAN
// namespace with a DHCP + DNS server (dnsmasq) and a web server; the gateway runs in the
// foreground with its log on this terminal. Ctrl-C stops it and removes the lab.
// `make demo WAN=ppp` (--ppp): the PPP lab instead, the gateway dialling the emulated ISP.
// `make demo IMAGE=1` (--image): the SD image booted in an emulated Pi (QEMU virt) in place of
// the gateway process, its serial console on this terminal: the whole product on one PC.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { labUnavailable, LAN_HOST, NetLab, WAN_HOST } from './netlab.js';
import { ISP_ADDRESS, PppLab } from './ppp-lab.js';
import { bootPi, copyImage } from './virt.js';

const REPO = resolve(import.meta.dirname, '../../..');

const why = labUnavailable();
if (why !== undefined) {
  console.error(`make demo: the lab ${why}`);
  process.exit(1);
}

const ppp = process.argv.includes('--ppp');
if (process.argv.includes('--image')) await demoImage();
const lab = new NetLab('demo');
const inLan = `ip netns exec ${lab.lan}`;
const inWan = `ip netns exec ${lab.wan}`;
const status = `${join(REPO, 'node_modules/.bin/node')} ${join(REPO, 'dist/firmware/main.js')} status --json --control ${join(lab.dir, 'control.sock')}`;
let config: string;
let isp: PppLab | undefined;

if (ppp) {
  // The PPP lab: the gateway dials the emulated modem; Debian's pppd in a QEMU guest answers.
  console.log('Booting the ISP guest (Debian kernel and pppd under QEMU; about ten seconds)...');
  isp = await PppLab.attach(lab, 115200);
  config = lab.file('gateway.toml', isp.config({ echoInterval: 10 }).replace('level = "debug"', 'level = "info"'));
  console.log(`
The lab is up. Namespaces: ${lab.lan} (LAN host ${LAN_HOST}), ${lab.gw} (the gateway). The gateway's modem
is ${isp.modem.device}, a Hayes modem emulator pacing the line at 115200 bit/s; behind it the ISP
(${ISP_ADDRESS}) runs Debian's pppd, which gives the gateway its address and DNS servers by IPCP.
The gateway's config is ${config}. Try, in another terminal:

  ${inLan} curl http://${ISP_ADDRESS}/          # a page from the ISP through the PPP link
  ${inLan} curl -o /dev/null http://${ISP_ADDRESS}/96k.bin    # about 9 s at 115200 bit/s
  ${inLan} ping -c 3 ${ISP_ADDRESS}
  ${status}

And type here (then Enter): "drop" drops the carrier, "busy" makes the next dial BUSY,
"freeze" stops the ISP answering (LCP echo failure), "thaw" wakes it.
Ctrl-C stops the gateway (LCP Terminate, +++ and ATH) and removes the lab.
`);
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (text: string) => {
    const word = text.trim();
    if (word === 'drop') void isp!.modem.dropCarrier();
    else if (word === 'busy') isp!.modem.dialResults.push('BUSY');
    else if (word === 'freeze' || word === 'thaw') void isp!.guest.command(word);
    else if (word !== '') console.log('commands: drop, busy, freeze, thaw');
  });
} else {
  lab.file('www/index.html', '<h1>Hello from the WAN server</h1>\n');
  lab.webServer(lab.wan, 'web.log');
  lab.dnsmasq({ dhcpRange: '203.0.113.50,203.0.113.99,255.255.255.0,1h' });
  lab.background(lab.wan, 'iperf3 -s', 'iperf3.log');
  config = lab.file('gateway.toml', `${lab.gatewayConfig('dhcp').replace('level = "debug"', 'level = "info"')}
[[portfw]]
protocol = "tcp"
port = 8080
to = "${LAN_HOST}:80"
`);
  console.log(`
The lab is up. Namespaces: ${lab.lan} (LAN host ${LAN_HOST}), ${lab.gw} (the gateway), ${lab.wan} (WAN server ${WAN_HOST}).
The gateway's config is ${config}; it takes its WAN address from dnsmasq by DHCP.
(\`make demo WAN=ppp\` runs the PPP lab instead: a modem and an ISP running pppd.)
Try, in another terminal:

  ${inLan} curl http://${WAN_HOST}/            # a page through the masquerade
  ${inLan} ping -c 3 ${WAN_HOST}
  ${inLan} traceroute -n ${WAN_HOST}           # the gateway is the first hop
  ${inLan} dig @${WAN_HOST} www.lab.test
  ${inLan} iperf3 -c ${WAN_HOST}
  cat ${join(lab.dir, 'web.log')}               # the server sees the gateway's WAN address
  ${inLan} python3 -m http.server 80 &          # then, from the WAN, the port forward:
  ${inWan} curl http://<WAN address>:8080/
  ${status}

Ctrl-C stops the gateway (releasing its lease) and removes the lab.
`);
}

const gw = spawn('ip', ['netns', 'exec', lab.gw, join(REPO, 'node_modules/.bin/node'), join(REPO, 'dist/firmware/main.js'), 'run',
  '--config', config, '--state-dir', join(lab.dir, 'state'), '--control', join(lab.dir, 'control.sock')], { stdio: ['ignore', 'inherit', 'inherit'], detached: true });

// The gateway, the modem's pty and the ISP guest run in process groups of their own, so that
// the terminal's signals reach only this process, which stops the gateway first (hang-up,
// release) and then removes the lab. A closed terminal (SIGHUP) does the same as Ctrl-C.
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  if (gw.exitCode === null) gw.kill('SIGTERM');
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);
// After SIGHUP the terminal is gone: writing to it fails, which must not stop the clean-up.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
gw.on('exit', (code) => {
  if (isp !== undefined) isp.destroy();
  else lab.destroy();
  try {
    console.log(`\ngateway exited (${code}); lab removed`);
  } finally {
    process.exit(code ?? 0);
  }
});

/** The image under QEMU virt, in the lab of test/lab/virt.ts; returns only by exiting. */
async function demoImage(): Promise<never> {
  const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
  const img = join(REPO, 'build/image', `gateway-${version}-rpi-arm64.img`);
  if (!existsSync(img)) {
    console.error(`make demo IMAGE=1: no ${img} (make image builds it)`);
    process.exit(1);
  }
  const dir = mkdtempSync(join(tmpdir(), 'demo-image-'));
  const disk = join(dir, 'sd.img');
  copyImage(img, disk);
  console.log(`Booting ${img} under QEMU (virt, cortex-a72, software emulation: about ten seconds).
Its serial console follows: type the gateway's commands (help, status, leds, flows ...); Ctrl-] quits.
In another terminal, the LAN host (192.168.0.100) reaches the WAN server (203.0.113.1) through it:
`);
  const vm = await bootPi('virt', disk, dir, `dm${process.pid % 1000}`, { echo: process.stdout });
  console.log(`  ip netns exec ${vm.lan} curl http://203.0.113.1/index.html
  ip netns exec ${vm.lan} ping -c 3 203.0.113.1
`);
  let stopping = false;
  const stop = async (): Promise<never> => {
    if (!stopping) {
      stopping = true;
      if (process.stdin.isTTY) process.stdin.setRawMode(false);
      await vm.stop();
      rmSync(dir, { recursive: true, force: true });
      console.log('\nemulated Pi powered off; lab removed');
    }
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop());
  // Keys go to the guest's console as they are typed (its line editor answers); Ctrl-] quits.
  if (process.stdin.isTTY) process.stdin.setRawMode(true);
  process.stdin.on('data', (b: Buffer) => {
    if (b.includes(0x1d)) void stop();
    else vm.type(b.toString('latin1'));
  });
  return new Promise<never>(() => {});
}
