// What a hostile LAN or WAN host tried against the real gateway (issue 14), where the kernel is
// part of the story: VLAN-tagged frames (the kernel strips the tag before the ring sees the
// frame), WAN packets for the gateway's own LAN and host-link addresses (the kernel holds
// those), and echo requests larger than the MTU.

import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import { requireLab, LAN_GATEWAY, NetLab, WAN_GATEWAY, WAN_HOST, type GatewayProcess } from '../lab/netlab.js';

const why = requireLab();
const lab = why === undefined ? new NetLab('ho') : undefined;
let gw: GatewayProcess | undefined;
const labTest = why === undefined ? test.serial : test.skip;

test.before(async () => {
  if (lab === undefined) return;
  gw = await lab.startGateway(lab.gatewayConfig('static'));
});

test.after.always(async () => {
  await gw?.stop();
  lab?.destroy();
});

function macOf(ns: string, dev: string): string {
  return lab!.sh(ns, `cat /sys/class/net/${dev}/address`).trim();
}

function vlanTagged(link: string): number {
  const links = (gw!.status() as unknown as { links: { name: string; vlanTagged?: number }[] }).links;
  return links.find((l) => l.name === link)?.vlanTagged ?? -1;
}

/**
 * Sends UDP datagrams as raw Ethernet frames from `dev` in `ns`, inside the VLAN tags given
 * (outermost first, as [TPID, VLAN id]): no 8021q module needed, the frames are built by hand.
 */
async function injectUdp(ns: string, dev: string, dstMac: string, src: string, dst: string, port: number, text: string, tags: [number, number][]): Promise<void> {
  const script = `
import socket, struct
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
payload = b'${text}'
udp = struct.pack('!HHHH', 40000, ${port}, 8 + len(payload), 0) + payload
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton('${src}'), socket.inet_aton('${dst}'))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('${dev}', 0))
me = open('/sys/class/net/${dev}/address').read().strip()
head = bytes.fromhex('${dstMac}'.replace(':', '')) + bytes.fromhex(me.replace(':', ''))
for tpid, vid in ${JSON.stringify(tags)}:
    head += struct.pack('!HH', tpid, vid)
for _ in range(3):
    s.send(head + struct.pack('!H', 0x0800) + ip + udp)
`;
  const r = await lab!.shAsync(ns, `python3 -c "${script.replace(/"/g, '\\"')}"`);
  if (r.code !== 0) throw new Error(`injecting frames: ${r.stderr}`);
}

/** A UDP listener on `port` in `ns` that appends what it hears to `file`; killed by the caller. */
async function udpListener(ns: string, port: number, file: string): Promise<ChildProcess> {
  const p = lab!.background(ns, `python3 -u -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', ${port}))
while True:
    data, peer = s.recvfrom(2048)
    open('${lab!.dir}/${file}', 'a').write(data.decode() + ' from ' + peer[0] + chr(10))
"`, `${file}.log`);
  lab!.sh(ns, `for i in $(seq 100); do ss -Hlun 'sport = :${port}' | grep -q . && exit 0; sleep 0.05; done; exit 1`);
  return p;
}

labTest('VLAN-tagged frames from the LAN (802.1Q, and QinQ) are not forwarded; the tagged frames are counted', async (t) => {
  const lanMac = macOf(lab!.gw, 'lan0');
  const listener = await udpListener(lab!.wan, 7778, 'wan-udp.txt');
  const before = vlanTagged('lan0');
  await injectUdp(lab!.lan, 'eth0', lanMac, '192.168.0.100', WAN_HOST, 7778, 'vlan42', [[0x8100, 42]]);
  await injectUdp(lab!.lan, 'eth0', lanMac, '192.168.0.100', WAN_HOST, 7778, 'qinq', [[0x88a8, 100], [0x8100, 42]]);
  // The same datagram untagged gets through (and a priority tag alone, VLAN 0, means untagged).
  await injectUdp(lab!.lan, 'eth0', lanMac, '192.168.0.100', WAN_HOST, 7778, 'untagged', []);
  await injectUdp(lab!.lan, 'eth0', lanMac, '192.168.0.100', WAN_HOST, 7778, 'priority', [[0x8100, 0x6000]]);
  await new Promise((r) => setTimeout(r, 1000));
  await lab!.kill(listener);
  const heard = lab!.read('wan-udp.txt');
  t.regex(heard, new RegExp(`untagged from ${WAN_GATEWAY.replace(/\./g, '\\.')}`));
  t.regex(heard, /priority from/);
  t.notRegex(heard, /vlan42|qinq/);
  t.is(vlanTagged('lan0') - before, 6, 'three 802.1Q and three QinQ frames');
});

labTest('a VLAN 7 frame to the WAN address gets no answer', async (t) => {
  const wanMac = macOf(lab!.gw, 'wan0');
  const before = vlanTagged('wan0');
  const portfwd = gw!.status().drops['noFlow']!;
  await injectUdp(lab!.wan, 'eth0', wanMac, WAN_HOST, WAN_GATEWAY, 9, 'vlan7', [[0x8100, 7]]);
  await new Promise((r) => setTimeout(r, 300));
  t.is(vlanTagged('wan0') - before, 3);
  t.is(gw!.status().drops['noFlow']!, portfwd, 'the core never saw them');
});

labTest('UDP from the WAN to the gateway\'s LAN address or its host-link address never reaches a listener there', async (t) => {
  // A listener on every address of the gateway's own kernel, as the DNS forwarder and DHCP server will be.
  const listener = await udpListener(lab!.gw, 7777, 'udp-got.txt');
  const send = (ns: string, dst: string, text: string) =>
    lab!.shAsync(ns, `python3 -c "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); [s.sendto(b'${text}', ('${dst}', 7777)) for _ in range(3)]"`);
  lab!.sh(lab!.wan, `ip route replace 192.168.0.0/24 via ${WAN_GATEWAY}; ip route replace 169.254.255.0/30 via ${WAN_GATEWAY}`);
  t.is((await send(lab!.wan, LAN_GATEWAY, 'wan-to-lan-address')).code, 0);
  t.is((await send(lab!.wan, '169.254.255.1', 'wan-to-host-link')).code, 0);
  // The listener works: the LAN host reaches it.
  t.is((await send(lab!.lan, LAN_GATEWAY, 'lan-to-lan-address')).code, 0);
  await new Promise((r) => setTimeout(r, 1000));
  await lab!.kill(listener);
  const heard = lab!.read('udp-got.txt');
  t.regex(heard, /lan-to-lan-address from 192\.168\.0\.100/);
  t.notRegex(heard, /wan-to/);
  t.is(lab!.sh(lab!.gw, 'sysctl -n net.ipv4.conf.wan0.rp_filter').trim(), '1');
});

labTest('an echo request larger than the MTU (ping -s 1473) to the WAN address is answered, in fragments', async (t) => {
  const before = gw!.status().translations['echoRepliesSent']!;
  const r = await lab!.shAsync(lab!.wan, `ping -c 2 -i 0.3 -W 2 -s 1473 ${WAN_GATEWAY}`);
  t.is(r.code, 0, r.stdout);
  t.regex(r.stdout, /2 received/);
  const s = gw!.status();
  t.is(s.translations['echoRepliesSent']! - before, 2);
  const f = (s as unknown as { frames: Record<string, number> }).frames;
  t.is(f['received'], f['forwarded']! + f['toHost']! + f['toCore']! + f['local']! + f['held']! + f['dropped']!, JSON.stringify(f));
});
