// The application helpers with real servers and clients (issue 15): vsftpd in the WAN namespace
// and curl on the LAN host in passive (EPSV, PASV) and active (EPRT, PORT) modes, downloads and
// uploads; a port-forwarded vsftpd on the LAN reached from the WAN in passive mode; tftpd-hpa
// and tftp; ngircd with two scripted clients, the inside one offering a file by DCC SEND.
// First without the helpers: active FTP, TFTP and DCC fail, so the helpers are what make them work.

import test from 'ava';
import { requireLab, LAN_HOST, NetLab, WAN_GATEWAY, WAN_HOST, type GatewayProcess } from '../lab/netlab.js';

const why = requireLab();
const lab = why === undefined ? new NetLab('hl') : undefined;
let gw: GatewayProcess | undefined;
const labTest = why === undefined ? test.serial : test.skip;

const HELPERS = '\n[masq]\nhelpers = { ftp = [21], irc = [6667], tftp = [69] }\n\n[[portfw]]\nprotocol = "tcp"\nport = 2121\nto = "192.168.0.100:21"\n';
const PORTFW_ONLY = '\n[[portfw]]\nprotocol = "tcp"\nport = 2121\nto = "192.168.0.100:21"\n';

/** vsftpd serving `root` (anonymous, uploads to incoming/), its log naming each client. */
function vsftpd(ns: string, name: string): void {
  const d = lab!.dir;
  lab!.sh(ns, `mkdir -p ${d}/${name}/pub ${d}/${name}/incoming ${d}/${name}-empty && chmod 755 ${d}/${name} && chown ftp ${d}/${name}/incoming && head -c 300000 /dev/urandom > ${d}/${name}/pub/file.bin`);
  const conf = lab!.file(`${name}.conf`, [
    'listen=YES', 'listen_ipv6=NO', 'background=NO', 'anonymous_enable=YES', 'local_enable=NO', 'write_enable=YES', 'anon_upload_enable=YES',
    'anon_umask=022', `anon_root=${d}/${name}`, `secure_chroot_dir=${d}/${name}-empty`, 'seccomp_sandbox=NO', 'connect_from_port_20=YES',
    'pasv_min_port=30000', 'pasv_max_port=30100', 'xferlog_enable=YES', `vsftpd_log_file=${d}/${name}.log`, 'dual_log_enable=YES', 'log_ftp_protocol=YES',
    'pam_service_name=vsftpd', 'use_localtime=NO', '',
  ].join('\n'));
  lab!.background(ns, `vsftpd ${conf}`, `${name}.out`);
  lab!.sh(ns, `for i in $(seq 100); do ss -Hltn 'sport = :21' | grep -q . && exit 0; sleep 0.05; done; exit 1`);
}

const DCC = `
import socket, struct, sys, time
mode, server, nick = sys.argv[1], sys.argv[2], sys.argv[3]
irc = socket.create_connection((server, 6667), timeout=20)
f = irc.makefile('rb')
def send(line): irc.sendall(line.encode('latin1') + b'\\r\\n')
send('NICK ' + nick); send('USER ' + nick + ' 0 * :' + nick)
def lines():
    while True:
        l = f.readline()
        if not l: raise SystemExit('server closed')
        l = l.decode('latin1').rstrip('\\r\\n')
        if l.startswith('PING'): send('PONG' + l[4:])
        yield l
for l in lines():
    if ' 001 ' in l: break
if mode == 'offer':
    data = open(sys.argv[4], 'rb').read()
    me = struct.unpack('!I', socket.inet_aton(irc.getsockname()[0]))[0]
    lsock = socket.socket(); lsock.bind(('0.0.0.0', 5000)); lsock.listen(1); lsock.settimeout(20)
    time.sleep(1)
    send('PRIVMSG bob :\\x01DCC SEND file.bin %d 5000 %d\\x01' % (me, len(data)))
    c, peer = lsock.accept()
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    while c.recv(4096): pass
    print('sent to', peer[0])
else:
    for l in lines():
        if '\\x01DCC SEND' in l: break
    parts = l.split('\\x01')[1].split()
    addr, port, size = socket.inet_ntoa(struct.pack('!I', int(parts[3]))), int(parts[4]), int(parts[5])
    print('offer from', addr, port, flush=True)
    c = socket.create_connection((addr, port), timeout=10)
    got = b''
    while len(got) < size:
        b = c.recv(65536)
        if not b: break
        got += b
    open(sys.argv[4], 'wb').write(got)
    print('got', len(got))
`;

test.before(async () => {
  if (lab === undefined) return;
  vsftpd(lab.wan, 'ftp');
  vsftpd(lab.lan, 'lanftp');
  lab.sh(lab.wan, `mkdir -p ${lab.dir}/tftp && head -c 200000 /dev/urandom > ${lab.dir}/tftp/boot.bin`);
  lab.background(lab.wan, `in.tftpd -L -s ${lab.dir}/tftp --address 0.0.0.0:69`, 'tftpd.log');
  lab.file('ngircd.conf', '[Global]\nName = irc.lab.test\nInfo = lab\nPorts = 6667\nListen = 0.0.0.0\nMotdPhrase = "lab"\n[Options]\nPAM = no\nIdent = no\nDNS = no\n[Limits]\nMaxNickLength = 20\n');
  lab.background(lab.wan, `ngircd -n -f ${lab.dir}/ngircd.conf`, 'ngircd.log');
  lab.file('dcc.py', DCC);
  lab.sh(lab.lan, `head -c 100000 /dev/urandom > ${lab.dir}/dcc-offer.bin`);
  lab.sh(lab.wan, 'for i in $(seq 100); do ss -Hltn "sport = :6667" | grep -q . && exit 0; sleep 0.05; done; exit 1');
});

test.after.always(async () => {
  await gw?.stop();
  lab?.destroy();
});

const md5 = async (ns: string, cmd: string): Promise<string> => (await lab!.shAsync(ns, `${cmd} | md5sum`)).stdout.trim();

async function dcc(): Promise<{ code: number | null; fetched: string; offered: string; log: string }> {
  lab!.sh(lab!.wan, `rm -f ${lab!.dir}/dcc-got.bin`);
  const fetch = lab!.shAsync(lab!.wan, `python3 -u ${lab!.dir}/dcc.py fetch ${WAN_HOST} bob ${lab!.dir}/dcc-got.bin`, 40_000);
  await new Promise((r) => setTimeout(r, 1500));
  const offer = await lab!.shAsync(lab!.lan, `python3 -u ${lab!.dir}/dcc.py offer ${WAN_HOST} alice ${lab!.dir}/dcc-offer.bin`, 40_000);
  const f = await fetch;
  return { code: f.code, fetched: await md5(lab!.wan, `cat ${lab!.dir}/dcc-got.bin 2>/dev/null`), offered: await md5(lab!.lan, `cat ${lab!.dir}/dcc-offer.bin`), log: f.stdout + f.stderr + offer.stdout + offer.stderr };
}

labTest('without the helpers: passive FTP works, active FTP, TFTP and DCC do not', async (t) => {
  gw = await lab!.startGateway(lab!.gatewayConfig('static', PORTFW_ONLY));
  const passive = await lab!.shAsync(lab!.lan, `curl -sS -m 20 ftp://${WAN_HOST}/pub/file.bin -o /dev/null`);
  t.is(passive.code, 0, passive.stderr);
  const active = await lab!.shAsync(lab!.lan, `curl -sS -m 8 -P - ftp://${WAN_HOST}/pub/file.bin -o /dev/null`);
  t.not(active.code, 0, 'active FTP needs the helper');
  const tftp = await lab!.shAsync(lab!.lan, `cd /tmp && timeout 8 tftp -m binary ${WAN_HOST} -c get boot.bin ${lab!.dir}/tftp-none.bin; test -s ${lab!.dir}/tftp-none.bin`);
  t.not(tftp.code, 0, 'TFTP needs the helper');
  const d = await dcc();
  t.not(d.fetched, d.offered, `DCC needs the helper: ${d.log}`);
  await gw.stop();
  gw = undefined;
});

labTest('with the helpers: FTP downloads in every mode arrive intact, and the server sees only the gateway', async (t) => {
  gw = await lab!.startGateway(lab!.gatewayConfig('static', HELPERS));
  const seen = lab!.read('ftp.log').length; // the first test's EPRT named the inside address
  const want = await md5(lab!.wan, `cat ${lab!.dir}/ftp/pub/file.bin`);
  for (const [mode, flags] of [['EPSV', ''], ['PASV', '--disable-epsv'], ['EPRT', '-P -'], ['PORT', '-P - --disable-eprt']] as const) {
    t.is(await md5(lab!.lan, `curl -sS -m 30 ${flags} ftp://${WAN_HOST}/pub/file.bin`), want, mode);
  }
  const log = lab!.read('ftp.log').slice(seen);
  t.regex(log, new RegExp(`Client "${WAN_GATEWAY.replace(/\./g, '\\.')}"`));
  t.notRegex(log, /192\.168\.0\./);
  t.regex(log, /PORT 203,0,113,2,/, 'the server got the rewritten PORT');
  t.regex(log, /EPRT \|1\|203\.0\.113\.2\|/);
});

labTest('with the helpers: uploads in active and passive mode', async (t) => {
  lab!.sh(lab!.lan, `head -c 200000 /dev/urandom > ${lab!.dir}/up.bin`);
  const want = await md5(lab!.lan, `cat ${lab!.dir}/up.bin`);
  for (const [name, flags] of [['active.bin', '-P -'], ['passive.bin', '']] as const) {
    const r = await lab!.shAsync(lab!.lan, `curl -sS -m 30 ${flags} -T ${lab!.dir}/up.bin ftp://${WAN_HOST}/incoming/${name}`);
    t.is(r.code, 0, r.stderr);
    t.is(await md5(lab!.wan, `cat ${lab!.dir}/ftp/incoming/${name}`), want, name);
  }
});

labTest('a port-forwarded FTP server on the LAN is reached from the WAN in passive mode (227 and 229 rewritten)', async (t) => {
  const want = await md5(lab!.lan, `cat ${lab!.dir}/lanftp/pub/file.bin`);
  for (const flags of ['--disable-epsv', '']) {
    t.is(await md5(lab!.wan, `curl -sS -m 30 ${flags} ftp://${WAN_GATEWAY}:2121/pub/file.bin`), want, flags || 'EPSV');
  }
});

labTest('with the helpers: TFTP from the LAN host fetches a file whose answers come from a new port', async (t) => {
  const r = await lab!.shAsync(lab!.lan, `cd /tmp && timeout 20 tftp -m binary ${WAN_HOST} -c get boot.bin ${lab!.dir}/tftp-got.bin`);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.is(await md5(lab!.lan, `cat ${lab!.dir}/tftp-got.bin`), await md5(lab!.wan, `cat ${lab!.dir}/tftp/boot.bin`));
});

labTest('with the helpers: an inside IRC client offers a file by DCC SEND and the outside one fetches it from the gateway\'s address', async (t) => {
  const d = await dcc();
  t.is(d.code, 0, d.log);
  t.is(d.fetched, d.offered, d.log);
  t.regex(d.log, /offer from 203\.0\.113\.2 \d+/);
  t.regex(d.log, new RegExp(`sent to ${WAN_HOST.replace(/\./g, '\\.')}`));
  const s = gw!.status() as unknown as { helpers: { counters: Record<string, number> } };
  t.true(s.helpers.counters['expectedAdmitted']! >= 4, JSON.stringify(s.helpers.counters));
  t.is(LAN_HOST, '192.168.0.100');
});
