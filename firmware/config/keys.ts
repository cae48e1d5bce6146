// Every key of gateway.toml, once: its type, bounds, default and meaning. The validator
// (schema.ts) reads types and defaults from here, and README's key table is this table rendered
// (test/unit/config.test.ts compares them), so documentation and behaviour cannot drift.

export type KeySpec =
  | { type: 'string'; default: string | undefined }
  | { type: 'integer'; default: number | undefined; min: number; max: number }
  | { type: 'boolean'; default: boolean }
  | { type: 'strings'; default: string[] }
  | { type: 'enum'; values: readonly string[]; default: string | undefined }
  /** Parsed by its own rule in schema.ts (addresses, port ranges, helper tables). */
  | { type: 'custom'; default: string | number | undefined };

export interface KeyDoc {
  section: string;
  key: string;
  spec: KeySpec;
  /** The README's default column when the value alone does not say it ("none", "the interface's"). */
  shown?: string;
  doc: string;
}

const str = (d: string | undefined): KeySpec => ({ type: 'string', default: d });
const int = (d: number | undefined, min: number, max: number): KeySpec => ({ type: 'integer', default: d, min, max });
const oneOf = (values: readonly string[], d: string | undefined): KeySpec => ({ type: 'enum', values, default: d });
const custom = (d: string | number | undefined): KeySpec => ({ type: 'custom', default: d });

export const KEYS: readonly KeyDoc[] = [
  { section: 'lan', key: 'interface', spec: str('eth0'), doc: 'the LAN port' },
  { section: 'lan', key: 'address', spec: custom('192.168.0.1/24'), doc: 'the gateway\'s LAN address and the masqueraded network (a host address, /8 to /30)' },
  { section: 'wan', key: 'type', spec: oneOf(['ethernet', 'ppp'], undefined), doc: '`"ethernet"` (cable/DSL modem) or `"ppp"` (serial modem, `[modem]` and `[ppp]`)' },
  { section: 'wan', key: 'interface', spec: str('eth1'), doc: 'Ethernet WAN port; not the LAN port' },
  { section: 'wan', key: 'address', spec: custom('dhcp'), doc: '`"dhcp"` or a static `"203.0.113.2/24"` (a host address, outside the LAN)' },
  { section: 'wan', key: 'gateway', spec: custom(undefined), shown: 'none', doc: 'upstream router, on the WAN\'s network; required with a static address' },
  { section: 'wan', key: 'mtu', spec: int(undefined, 576, 9000), shown: 'the interface\'s', doc: 'e.g. 1492 behind a PPPoE modem; MSS is clamped and datagrams fragmented to fit' },
  { section: 'modem', key: 'device', spec: str('auto'), doc: 'serial device (`"/dev/ttyUSB0"`, `"/dev/ttyAMA0"`, a pty path); `"auto"` asks every serial port in `/sys/class/tty` (USB modems first) `AT` and takes the first to answer OK' },
  { section: 'modem', key: 'baud', spec: int(115200, 300, 4000000), doc: 'line speed, 300 to 4000000' },
  { section: 'modem', key: 'flow_control', spec: oneOf(['rtscts', 'none'], 'rtscts'), doc: 'or `"none"` (three-wire UARTs, ptys)' },
  { section: 'modem', key: 'carrier', spec: oneOf(['dcd', 'none'], undefined), shown: '"dcd" with rtscts, "none" without', doc: '`"dcd"`: a low DCD ends the call (pppd\'s `modem`); `"none"`: DCD is ignored and the modem\'s NO CARRIER or LCP echoes end it (pppd\'s `local`: three-wire UARTs, ptys)' },
  { section: 'modem', key: 'init', spec: { type: 'strings', default: ['ATZ'] }, doc: 'init strings, each must answer OK' },
  { section: 'modem', key: 'dial', spec: str('ATD*99#'), doc: 'dial command (`"ATDT5551234"` for dial-up); CONNECT is awaited' },
  { section: 'modem', key: 'connect_timeout', spec: int(60, 1, 600), doc: 'seconds to wait for CONNECT' },
  { section: 'modem', key: 'pin', spec: str(''), doc: 'SIM PIN, sent with `AT+CPIN=` when the SIM asks; never logged, and never retried when refused (three wrong PINs block a SIM)' },
  { section: 'modem', key: 'apn', spec: str(''), doc: 'cellular APN, set with `AT+CGDCONT=1,"IP","…"` before dialling' },
  { section: 'ppp', key: 'user', spec: str(''), doc: 'PAP or CHAP-MD5 user name for the ISP' },
  { section: 'ppp', key: 'password', spec: str(''), doc: 'its password (never logged)' },
  { section: 'ppp', key: 'persist', spec: { type: 'boolean', default: true }, doc: 'redial after the link drops; false: give up after the first call ends' },
  { section: 'ppp', key: 'holdoff', spec: int(5, 1, 3600), doc: 'seconds before redialling after a working link dropped; also the first step of the back-off' },
  { section: 'ppp', key: 'max_backoff', spec: int(300, 1, 86400), doc: 'failed dials (BUSY, NO CARRIER, no answer) wait holdoff × 2ⁿ⁻¹ seconds, up to this' },
  { section: 'ppp', key: 'maxfail', spec: int(0, 0, 1000000), doc: 'consecutive failed attempts before giving up (0: never), as pppd\'s maxfail' },
  { section: 'ppp', key: 'auth_retry', spec: int(300, 1, 86400), doc: 'seconds before trying again after the ISP refused our credentials' },
  { section: 'ppp', key: 'lcp_echo_interval', spec: int(30, 0, 3600), doc: 'seconds between LCP echo requests (0: off)' },
  { section: 'ppp', key: 'lcp_echo_failure', spec: int(4, 0, 100), doc: 'that many unanswered echo requests in a row end the call (0: never)' },
  { section: 'masq', key: 'tcp_timeout', spec: int(7200, 1, 864000), doc: 'seconds an idle established TCP flow lives (`ipchains -M -S 7200 10 160`)' },
  { section: 'masq', key: 'tcp_fin_timeout', spec: int(10, 1, 86400), doc: 'seconds after the first FIN' },
  { section: 'masq', key: 'udp_timeout', spec: int(160, 1, 86400), doc: 'seconds a replied UDP flow lives (unreplied: 30, or less if this is less)' },
  { section: 'masq', key: 'icmp_timeout', spec: int(30, 1, 86400), doc: 'seconds an ICMP echo flow lives' },
  { section: 'masq', key: 'ports', spec: custom('1024-65535'), doc: 'outside ports for masqueraded flows: the inside host\'s own port when free, else one at random (RFC 6056), as Linux\'s masquerade does; at least 1024 (Linux 2.2 used `"61000-65095"`, which caps new connections to one server near 400/s)' },
  { section: 'masq', key: 'ports_per_host', spec: int(1024, 16, 65535), doc: 'UDP endpoints of one LAN host that get an outside port of their own (endpoint-independent, RFC 4787); beyond, its flows share ports across destinations, so no host can use up the range' },
  { section: 'masq', key: 'max_flows', spec: int(65536, 64, 4194304), doc: 'bound of the connection table (4 MB at 65536)' },
  { section: 'masq', key: 'helpers', spec: custom(undefined), shown: 'none', doc: 'application helpers and their server ports, like the 2.2 modules\' `ports=`: `{ ftp = [21, 2121], irc = [6667], tftp = [69] }` (`[]`: the helper\'s default ports)' },
  { section: 'portfw', key: 'protocol', spec: oneOf(['tcp', 'udp'], undefined), doc: '`"tcp"` or `"udp"`' },
  { section: 'portfw', key: 'port', spec: custom(undefined), doc: 'outside port `8080` or range `"6000-6010"`' },
  { section: 'portfw', key: 'to', spec: custom(undefined), doc: '`"192.168.0.10:80"`, a host on the LAN; a range maps port by port' },
  { section: 'trigger', key: 'protocol', spec: oneOf(['tcp', 'udp'], undefined), doc: 'protocol of the outbound traffic that triggers, `"tcp"` or `"udp"`' },
  { section: 'trigger', key: 'port', spec: custom(undefined), doc: 'the port or range (`6112` or `"6112-6119"`) a LAN host\'s outbound traffic goes to' },
  { section: 'trigger', key: 'open', spec: custom(undefined), doc: 'the outside port or range opened to that host (the same ports on the host)' },
  { section: 'trigger', key: 'open_protocol', spec: oneOf(['tcp', 'udp'], undefined), shown: 'as protocol', doc: 'protocol of the opened range' },
  { section: 'trigger', key: 'timeout', spec: int(600, 1, 86400), doc: 'seconds the range stays open after the host\'s last triggering packet' },
  { section: 'dialin', key: 'device', spec: str(undefined), doc: 'the answering modem\'s serial device (`"/dev/ttyUSB1"`); one `[[dialin]]` per modem' },
  { section: 'dialin', key: 'baud', spec: int(115200, 300, 4000000), doc: 'line speed' },
  { section: 'dialin', key: 'flow_control', spec: oneOf(['rtscts', 'none'], 'rtscts'), doc: 'or `"none"` (three-wire UARTs, ptys)' },
  { section: 'dialin', key: 'carrier', spec: oneOf(['dcd', 'none'], undefined), shown: '"dcd" with rtscts, "none" without', doc: 'as `[modem] carrier`: whether a low DCD ends the call' },
  { section: 'dialin', key: 'init', spec: { type: 'strings', default: ['ATZ', 'ATS0=0'] }, doc: 'init strings, each must answer OK; auto-answer stays off (we answer with ATA)' },
  { section: 'dialin', key: 'rings', spec: int(1, 1, 20), doc: 'answer with `ATA` on this RING' },
  { section: 'dialin', key: 'pool', spec: custom(undefined), shown: 'the top of the LAN: .240-.253 of a /24', doc: 'callers\' addresses, `"192.168.0.200-192.168.0.209"`, on the LAN, never the gateway\'s own; shared by every `[[dialin]]` with the same pool' },
  { section: 'dialin', key: 'dns', spec: custom(undefined), shown: 'the gateway (its DNS forwarder), else the WAN\'s', doc: 'name servers IPCP hands callers, `["192.168.0.1"]`' },
  { section: 'dialin', key: 'protocols', spec: { type: 'strings', default: ['ppp', 'slip'] }, doc: '`"ppp"` (a caller\'s first LCP frame starts PPP at once, or `ppp` after the login prompt) and/or `"slip"` (`slip` or `cslip` after the login prompt)' },
  { section: 'dialin', key: 'idle_timeout', spec: int(600, 0, 86400), doc: 'seconds without a datagram either way that end a call (0: never)' },
  { section: 'dialin', key: 'max_call_time', spec: int(0, 0, 604800), doc: 'seconds after which a call is ended (0: no limit)' },
  { section: 'dialin', key: 'users', spec: custom(undefined), shown: 'required', doc: 'a `[dialin.users]` table after the `[[dialin]]`: `alice = "wonderland"`, or `bob = { password = "…", address = "192.168.0.205" }` for a fixed address; PAP and CHAP-MD5 (CHAP asked first) and the login prompt; passwords never logged' },
  { section: 'dhcp', key: 'enabled', spec: { type: 'boolean', default: true }, doc: 'the DHCP server on the LAN (RFC 2131): addresses, the router, name servers' },
  { section: 'dhcp', key: 'range', spec: custom(undefined), shown: 'the middle of the LAN: .100-.199 of a /24', doc: 'addresses handed out, `"192.168.0.100-192.168.0.199"`, on the LAN; the gateway\'s own address and dial-in pools are never handed out' },
  { section: 'dhcp', key: 'lease_time', spec: int(86400, 120, 31536000), doc: 'seconds a lease lasts (clients renew at half)' },
  { section: 'dhcp', key: 'domain', spec: str('lan'), doc: 'the LAN\'s domain: clients get it (option 15), and their host names resolve in it (`laptop.lan`)' },
  { section: 'dhcp', key: 'dns', spec: custom(undefined), shown: 'the gateway (its DNS forwarder), else the WAN\'s', doc: 'name servers handed to clients, `["192.168.0.1"]`' },
  { section: 'dhcp', key: 'static', spec: custom(undefined), shown: 'none', doc: '`[[dhcp.static]]` entries, each `mac = "02:00:00:00:00:01"`, `address = "192.168.0.50"` (on the LAN) and optionally `hostname = "printer"`: that MAC always gets that address' },
  { section: 'dns', key: 'enabled', spec: { type: 'boolean', default: true }, doc: 'the caching DNS forwarder on the LAN address, UDP and TCP port 53' },
  { section: 'dns', key: 'upstream', spec: custom(undefined), shown: 'the WAN\'s (IPCP or the DHCP lease)', doc: 'name servers to forward to, `["9.9.9.9", "1.1.1.1"]`, tried in order; one that stops answering is passed over' },
  { section: 'dns', key: 'cache_size', spec: int(1000, 0, 100000), doc: 'answers kept (TTLs honoured, NXDOMAIN too, RFC 2308); 0: no cache' },
  { section: 'dns', key: 'hostname', spec: str('gateway'), doc: 'the gateway\'s own name: `gateway.lan` resolves to its LAN address' },
  { section: 'leds', key: 'status', spec: int(undefined, 0, 53), shown: 'none', doc: 'BCM pin of the status LED (as on Pi pin-out charts, e.g. 17); README\'s LED table says what it shows' },
  { section: 'leds', key: 'wan', spec: int(undefined, 0, 53), shown: 'none', doc: 'BCM pin of the WAN LED (e.g. 27)' },
  { section: 'leds', key: 'lan', spec: int(undefined, 0, 53), shown: 'none', doc: 'BCM pin of the LAN LED (e.g. 22)' },
  { section: 'leds', key: 'active_low', spec: { type: 'boolean', default: false }, doc: 'true when a pin lights its LED by going low (LED wired to 3.3 V)' },
  { section: 'leds', key: 'onboard', spec: { type: 'boolean', default: true }, doc: 'also drive the board\'s own LEDs: PWR (red) shows the status LED, ACT (green) the WAN LED' },
  { section: 'console', key: 'baud', spec: int(115200, 300, 4000000), doc: 'speed of the serial console (`gateway run --console /dev/ttyAMA0`), 8N1' },
  { section: 'console', key: 'password', spec: str(''), doc: 'asked before the console takes commands (none: no password); compared in constant time, never logged, wrong ones slowed down' },
  { section: 'watchdog', key: 'host', spec: str(''), shown: 'none (off)', doc: 'an address on the Internet to ping through the WAN (e.g. your ISP\'s DNS server); off unless set' },
  { section: 'watchdog', key: 'interval', spec: int(30, 1, 3600), doc: 'seconds between pings, while the WAN is up' },
  { section: 'watchdog', key: 'failures', spec: int(3, 1, 100), doc: 'missed pings in a row that restart the WAN (redial, or DHCP from the start)' },
  { section: 'log', key: 'level', spec: oneOf(['trace', 'debug', 'info', 'warn', 'error'], 'info'), doc: '`trace`, `debug`, `info`, `warn`, `error`' },
  { section: 'driver', key: 'packet_ring', spec: oneOf(['v2', 'v3'], 'v2'), doc: 'AF_PACKET ring: `"v2"` wakes per frame (lowest latency), and under load lets frames of sparse flows (a ping, a game, a call) go ahead of a download\'s backlog; `"v3"` packs frames into blocks handed over when full or after 1 ms, in arrival order' },
  { section: 'driver', key: 'busy_poll_us', spec: int(50, 0, 10000), doc: 'after frames arrive, keep looking at every ring this many µs before sleeping: answers already waiting skip a wake-up; 0: off. Nothing spins while no frame comes' },
  { section: 'driver', key: 'interactive_batch', spec: int(0, 0, 256), doc: 'while a game, a call or pings flow through a ring (in the last 50 ms a frame went ahead of a flow that is not TCP and sends under 200 frames a second), hand the core at most this many of its frames at a time, so that theirs wait less behind a download: 64 halved the round trip under load and cost bulk TCP about 15%; 0: off (batches of 256)' },
  { section: 'driver', key: 'coalesce_us', spec: int(100, 0, 10000), doc: 'while traffic is dense (32 frames a millisecond or more), read the rings every this many µs instead of busy polling, as a NIC moderates its interrupts: larger batches, fewer wake-ups; sparse traffic is not delayed; 0: off' },
];

/** Sections written as arrays of tables (`[[portfw]]`, `[[trigger]]`). */
export const ARRAY_SECTIONS: ReadonlySet<string> = new Set(['portfw', 'trigger', 'dialin']);

export const SECTIONS: readonly string[] = [...new Set(KEYS.map((k) => k.section))];

export function keysOf(section: string): string[] {
  return KEYS.filter((k) => k.section === section).map((k) => k.key);
}

export function specOf(section: string, key: string): KeySpec {
  const k = KEYS.find((x) => x.section === section && x.key === key);
  if (k === undefined) throw new Error(`no key ${section}.${key} in the key table`);
  return k.spec;
}

/** README's key table, rendered from KEYS: `| key | default | meaning |`. */
export function renderKeyTable(): string {
  const rows = KEYS.map((k) => {
    const name = ARRAY_SECTIONS.has(k.section) ? `[[${k.section}]] ${k.key}` : `[${k.section}] ${k.key}`;
    return `| \`${name}\` | ${shownDefault(k)} | ${k.doc} |`;
  });
  return ['| key | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

function shownDefault(k: KeyDoc): string {
  if (k.shown !== undefined) return k.shown;
  const d = k.spec.default;
  if (d === undefined) return 'required';
  if (typeof d === 'string') return `\`"${d}"\``;
  if (Array.isArray(d)) return `\`[${d.map((x) => `"${x}"`).join(', ')}]\``;
  return `${d}`;
}
