// gateway.toml → a validated GatewayConfig, or every error found, each with its line and key.
// Types, bounds and defaults come from the key table (keys.ts), which README's table mirrors.

import { DEFAULT_PORT_RANGE } from '../core/nat/ports.js';
import type { TriggerRule } from '../core/nat/triggers.js';
import { HELPERS } from '../core/hooks.js';
import { broadcastOf, formatIpv4, formatPrefix, inPrefix, networkOf, parseCidr, parseIpv4, prefixMask, type Prefix } from '../core/addr.js';
import type { FlowTimeouts } from '../core/conntrack/tcp-states.js';
import { keysOf, SECTIONS, specOf } from './keys.js';
import { isTable, parseToml, TomlError, type TomlTable, type TomlValue } from './toml.js';

export interface PortForwardConfig {
  protocol: 'tcp' | 'udp';
  firstPort: number;
  lastPort: number;
  toAddress: number;
  toPort: number;
}

export interface DialinUser {
  /** Never logged. */
  password: string;
  /** A fixed address for this caller; undefined: one from the pool. */
  address: number | undefined;
}

/** One answering modem (`[[dialin]]`). */
export interface DialinConfig {
  device: string;
  baud: number;
  flowControl: 'rtscts' | 'none';
  carrier: 'dcd' | 'none';
  init: string[];
  rings: number;
  pool: { first: number; last: number };
  /** Name servers for callers; undefined: the WAN's. */
  dns: number[] | undefined;
  protocols: ('ppp' | 'slip')[];
  /** Seconds; 0: never. */
  idleTimeout: number;
  maxCallTime: number;
  users: Map<string, DialinUser>;
}

export interface DhcpStatic {
  mac: string;
  address: number;
  hostname: string | undefined;
}

export interface GatewayConfig {
  lan: { interface: string; address: Prefix };
  wan: {
    type: 'ethernet' | 'ppp';
    interface: string;
    /** Static address, or 'dhcp'. */
    address: Prefix | 'dhcp';
    gateway: number | undefined;
    /** Overrides the interface's MTU (e.g. 1492 behind PPPoE modems). */
    mtu: number | undefined;
  };
  modem: { device: string; baud: number; init: string[]; dial: string; pin: string; apn: string; flowControl: 'rtscts' | 'none'; carrier: 'dcd' | 'none'; connectTimeout: number };
  ppp: {
    user: string;
    password: string;
    persist: boolean;
    /** Seconds before redialling; doubled per consecutive failure up to maxBackoff. */
    holdoff: number;
    maxBackoff: number;
    /** Consecutive failed attempts before giving up (0: never), as pppd's maxfail. */
    maxfail: number;
    /** Seconds before retrying after the ISP refused our credentials. */
    authRetry: number;
    lcpEchoInterval: number;
    lcpEchoFailure: number;
  };
  masq: {
    tcpTimeout: number;
    tcpFinTimeout: number;
    udpTimeout: number;
    icmpTimeout: number;
    ports: { first: number; last: number };
    portsPerHost: number;
    maxFlows: number;
    helpers: Record<string, number[]>;
  };
  portfw: PortForwardConfig[];
  trigger: TriggerRule[];
  dialin: DialinConfig[];
  dhcp: { enabled: boolean; range: { first: number; last: number }; leaseTime: number; domain: string; dns: number[] | undefined; statics: DhcpStatic[] };
  dns: { enabled: boolean; upstream: number[] | undefined; cacheSize: number; hostname: string };
  console: { baud: number; password: string };
  /** host 0: off. */
  watchdog: { host: number; interval: number; failures: number };
  leds: { status: number | undefined; wan: number | undefined; lan: number | undefined; activeLow: boolean; onboard: boolean };
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' };
  driver: { packetRing: 'v2' | 'v3'; busyPollUs: number; coalesceUs: number; interactiveBatch: number };
}

export interface ConfigError {
  line: number;
  /** `wan.address`, `portfw[0].to`, or '' for the file as a whole. */
  key: string;
  message: string;
}

/**
 * A failed parse still has `partial` when the TOML itself was readable: the file's values where
 * they are right, defaults where they are wrong (config-error mode drives the LEDs it names).
 */
export type ConfigResult = { ok: true; config: GatewayConfig } | { ok: false; errors: ConfigError[]; partial?: GatewayConfig };

/** One line, always: control characters and line separators in a key or value are escaped. */
export function formatConfigError(file: string, e: ConfigError): string {
  return `${file}:${e.line}: ${e.key === '' ? '' : `${escapeControls(e.key)}: `}${escapeControls(e.message)}`;
}

function escapeControls(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Parses and validates; never throws on bad input. */
export function parseConfig(text: string): ConfigResult {
  let doc;
  try {
    doc = parseToml(text);
  } catch (e) {
    if (e instanceof TomlError) return { ok: false, errors: [{ line: e.line, key: '', message: e.reason }] };
    throw e;
  }
  const v = new Validator(doc.root, doc.lines);
  const config = v.config();
  return v.errors.length > 0 ? { ok: false, errors: v.errors.sort((a, b) => a.line - b.line), partial: config } : { ok: true, config };
}

type LogLevel = GatewayConfig['log']['level'];

class Validator {
  readonly errors: ConfigError[] = [];

  constructor(private readonly root: TomlTable, private readonly lines: Map<string, number>) {}

  config(): GatewayConfig {
    for (const k of Object.keys(this.root)) {
      if (!SECTIONS.includes(k)) this.error(k, `unknown section [${k}] (known: ${SECTIONS.join(', ')})`);
    }
    const lan = this.section('lan');
    const wan = this.section('wan');
    const modem = this.section('modem');
    const ppp = this.section('ppp');
    const masq = this.section('masq');
    const leds = this.section('leds');
    const consoleSection = this.section('console');
    const watchdog = this.section('watchdog');
    const watchdogHost = this.string(watchdog, 'watchdog', 'host');
    const log = this.section('log');
    const driver = this.section('driver');

    const type = this.oneOf(wan, 'wan', 'type') as 'ethernet' | 'ppp' | undefined;
    const wanAddress = this.string(wan, 'wan', 'address');
    let address: Prefix | 'dhcp' = 'dhcp';
    if (wanAddress !== 'dhcp') address = this.parse('wan.address', wanAddress, parseCidr, 'is neither "dhcp" nor an address/prefix like "203.0.113.2/24"') ?? 'dhcp';
    const gatewayText = wan['gateway'] === undefined ? '' : this.string(wan, 'wan', 'gateway');
    const gateway = gatewayText === '' ? undefined : this.parse('wan.gateway', gatewayText, parseIpv4, 'is not an IPv4 address');
    if (type === 'ethernet' && address !== 'dhcp' && gatewayText === '') this.error('wan.address', 'a static WAN address needs wan.gateway (the upstream router)');
    if (type === 'ppp' && wan['interface'] !== undefined) this.error('wan.interface', 'applies to type = "ethernet" only (PPP runs on [modem] device)');

    const lanAddress = this.parse('lan.address', this.string(lan, 'lan', 'address'), parseCidr, 'is not an address/prefix like "192.168.0.1/24"');
    if (lanAddress !== undefined && (lanAddress.length < 8 || lanAddress.length > 30)) this.error('lan.address', 'prefix length must be between /8 and /30');

    const flowControl = this.oneOf(modem, 'modem', 'flow_control') as 'rtscts' | 'none';
    const config: GatewayConfig = {
      lan: { interface: this.interfaceName(lan, 'lan', 'interface'), address: lanAddress ?? parseCidr('192.168.0.1/24') },
      wan: {
        type: type ?? 'ethernet',
        interface: this.interfaceName(wan, 'wan', 'interface'),
        address,
        gateway,
        mtu: this.optionalInteger(wan, 'wan', 'mtu'),
      },
      modem: {
        device: this.string(modem, 'modem', 'device'),
        baud: this.integer(modem, 'modem', 'baud'),
        init: this.strings(modem, 'modem', 'init'),
        dial: this.string(modem, 'modem', 'dial'),
        pin: this.string(modem, 'modem', 'pin'),
        apn: this.string(modem, 'modem', 'apn'),
        flowControl,
        // A port wired without RTS/CTS has no DCD either, as a rule.
        carrier: (this.oneOf(modem, 'modem', 'carrier') ?? (flowControl === 'rtscts' ? 'dcd' : 'none')) as 'dcd' | 'none',
        connectTimeout: this.integer(modem, 'modem', 'connect_timeout'),
      },
      ppp: {
        user: this.string(ppp, 'ppp', 'user'),
        password: this.string(ppp, 'ppp', 'password'),
        persist: this.boolean(ppp, 'ppp', 'persist'),
        holdoff: this.integer(ppp, 'ppp', 'holdoff'),
        maxBackoff: this.integer(ppp, 'ppp', 'max_backoff'),
        maxfail: this.integer(ppp, 'ppp', 'maxfail'),
        authRetry: this.integer(ppp, 'ppp', 'auth_retry'),
        lcpEchoInterval: this.integer(ppp, 'ppp', 'lcp_echo_interval'),
        lcpEchoFailure: this.integer(ppp, 'ppp', 'lcp_echo_failure'),
      },
      masq: {
        tcpTimeout: this.integer(masq, 'masq', 'tcp_timeout'),
        tcpFinTimeout: this.integer(masq, 'masq', 'tcp_fin_timeout'),
        udpTimeout: this.integer(masq, 'masq', 'udp_timeout'),
        icmpTimeout: this.integer(masq, 'masq', 'icmp_timeout'),
        ports: this.portRange('masq.ports', masq['ports'] ?? (specOf('masq', 'ports').default as string), 1024) ?? DEFAULT_PORT_RANGE,
        portsPerHost: this.integer(masq, 'masq', 'ports_per_host'),
        maxFlows: this.integer(masq, 'masq', 'max_flows'),
        helpers: this.helpers(masq['helpers']),
      },
      portfw: this.portForwards(),
      trigger: this.triggers(),
      dialin: this.dialins(lanAddress ?? parseCidr('192.168.0.1/24')),
      dhcp: this.dhcp(lanAddress ?? parseCidr('192.168.0.1/24')),
      dns: this.dns(),
      console: { baud: this.integer(consoleSection, 'console', 'baud'), password: this.string(consoleSection, 'console', 'password') },
      watchdog: {
        host: watchdogHost === '' ? 0 : this.parse('watchdog.host', watchdogHost, parseIpv4, 'is not an IPv4 address') ?? 0,
        interval: this.integer(watchdog, 'watchdog', 'interval'),
        failures: this.integer(watchdog, 'watchdog', 'failures'),
      },
      leds: {
        status: this.optionalInteger(leds, 'leds', 'status'),
        wan: this.optionalInteger(leds, 'leds', 'wan'),
        lan: this.optionalInteger(leds, 'leds', 'lan'),
        activeLow: this.boolean(leds, 'leds', 'active_low'),
        onboard: this.boolean(leds, 'leds', 'onboard'),
      },
      log: { level: this.oneOf(log, 'log', 'level') as LogLevel },
      driver: { packetRing: this.oneOf(driver, 'driver', 'packet_ring') as 'v2' | 'v3', busyPollUs: this.integer(driver, 'driver', 'busy_poll_us'), coalesceUs: this.integer(driver, 'driver', 'coalesce_us'), interactiveBatch: this.integer(driver, 'driver', 'interactive_batch') },
    };
    if (type === undefined && this.errors.every((e) => e.key !== 'wan.type')) this.error('wan', 'the [wan] section needs type = "ethernet" or "ppp"');
    if (lanAddress !== undefined) this.checkTopology(config, lanAddress);
    return config;
  }

  /**
   * What `gateway run` would otherwise find out on the host, too late: every such mistake is a
   * config error, reported by `check` before anything is touched.
   */
  private checkTopology(config: GatewayConfig, lan: Prefix): void {
    const { wan } = config;
    const hostAddress = (key: string, p: Prefix): void => {
      if (p.length >= 31) return;
      if (p.address === networkOf(p)) this.error(key, `${formatPrefix(p)} is the network's own address, not a host's`);
      else if (p.address === broadcastOf(p)) this.error(key, `${formatPrefix(p)} is the network's broadcast address, not a host's`);
    };
    hostAddress('lan.address', lan);
    if (wan.type === 'ethernet') {
      if (wan.interface === config.lan.interface) this.error('wan.interface', `"${wan.interface}" is already the LAN port ([lan] interface): the WAN needs a port of its own`);
      if (wan.address !== 'dhcp') {
        hostAddress('wan.address', wan.address);
        if (overlaps(wan.address, lan)) this.error('wan.address', `${formatPrefix(wan.address)} overlaps the LAN ${formatPrefix(lan)}: the WAN must be another network`);
        if (wan.gateway !== undefined && !inPrefix(wan.gateway, wan.address)) this.error('wan.gateway', `${formatIpv4(wan.gateway)} is not on the WAN's network ${formatPrefix({ address: networkOf(wan.address), length: wan.address.length })}`);
        if (wan.gateway !== undefined && wan.gateway === wan.address.address) this.error('wan.gateway', `${formatIpv4(wan.gateway)} is the gateway's own WAN address`);
      }
    }
    config.portfw.forEach((r, i) => {
      const problem = portForwardProblem(r.toAddress, lan);
      if (problem !== undefined) this.error(`portfw[${i}].to`, problem);
    });
    // The DHCP server's range and the dial-in pools must not share addresses.
    const range = config.dhcp.range;
    config.dialin.forEach((d, i) => {
      if (config.dhcp.enabled && d.pool.first <= range.last && range.first <= d.pool.last) {
        this.error(this.root['dhcp'] !== undefined && (this.root['dhcp'] as TomlTable)['range'] !== undefined ? 'dhcp.range' : `dialin[${i}].pool`, `the DHCP range ${formatIpv4(range.first)}-${formatIpv4(range.last)} overlaps dial-in pool ${formatIpv4(d.pool.first)}-${formatIpv4(d.pool.last)}`);
      }
    });
  }

  private lineOf(key: string): number {
    for (let k = key; k !== ''; k = k.replace(/(\[\d+\]|\.?[^.[\]]+)$/, '')) {
      const l = this.lines.get(k);
      if (l !== undefined) return l;
    }
    return 1;
  }

  private error(key: string, message: string): void {
    this.errors.push({ line: this.lineOf(key), key, message });
  }

  /** A network interface's name as Linux allows it (dev_valid_name): 1 to 15 bytes, no '/', ':' or white space, not "." or "..". */
  private interfaceName(t: TomlTable, section: string, key: string): string {
    const name = this.string(t, section, key);
    const bytes = Buffer.byteLength(name);
    // eslint-disable-next-line no-control-regex
    const bad = bytes === 0 || bytes > 15 || name === '.' || name === '..' || /[/:\s\u0000-\u001f\u007f]/.test(name);
    if (!bad) return name;
    this.error(`${section}.${key}`, `"${name}" cannot be a network interface's name (1 to 15 characters, no "/", ":", spaces or control characters)`);
    return specOf(section, key).default as string;
  }

  private section(name: string): TomlTable {
    const s = this.root[name];
    if (s === undefined) return {};
    if (!isTable(s)) {
      this.error(name, `must be a table ([${name}])`);
      return {};
    }
    this.knownKeys(s, name, `[${name}]`);
    return s;
  }

  private knownKeys(t: TomlTable, section: string, where: string, at = section): void {
    const keys = keysOf(section);
    for (const k of Object.keys(t)) {
      if (!keys.includes(k)) this.error(`${at}.${k}`, `unknown key (known in ${where}: ${keys.join(', ')})`);
    }
  }

  private string(t: TomlTable, section: string, key: string, at = section): string {
    const fallback = String(specOf(section, key).default ?? '');
    const v = t[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'string') {
      this.error(`${at}.${key}`, `must be a string (in quotes), not ${describe(v)}`);
      return fallback;
    }
    return v;
  }

  private strings(t: TomlTable, section: string, key: string, at = section): string[] {
    const spec = specOf(section, key);
    const fallback = spec.type === 'strings' ? spec.default : [];
    const v = t[key];
    if (v === undefined) return fallback;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
      this.error(`${at}.${key}`, 'must be an array of strings, like ["ATZ"]');
      return fallback;
    }
    return v as string[];
  }

  private boolean(t: TomlTable, section: string, key: string): boolean {
    const spec = specOf(section, key);
    const fallback = spec.type === 'boolean' && spec.default;
    const v = t[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') {
      this.error(`${section}.${key}`, `must be true or false, not ${describe(v)}`);
      return fallback;
    }
    return v;
  }

  private integer(t: TomlTable, section: string, key: string, at = section): number {
    return this.optionalInteger(t, section, key, at) ?? (specOf(section, key).default as number);
  }

  private optionalInteger(t: TomlTable, section: string, key: string, at = section): number | undefined {
    const spec = specOf(section, key);
    if (spec.type !== 'integer') throw new Error(`${section}.${key} is not an integer key`);
    const v = t[key];
    if (v === undefined) return spec.default;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < spec.min || v > spec.max) {
      this.error(`${at}.${key}`, `must be an integer from ${spec.min} to ${spec.max}, not ${describe(v)}`);
      return spec.default;
    }
    return v;
  }

  private oneOf(t: TomlTable, section: string, key: string, at = section): string | undefined {
    const spec = specOf(section, key);
    if (spec.type !== 'enum') throw new Error(`${section}.${key} is not an enumerated key`);
    const v = t[key];
    if (v === undefined) return spec.default;
    if (typeof v !== 'string' || !spec.values.includes(v)) {
      this.error(`${at}.${key}`, `must be one of ${spec.values.map((a) => `"${a}"`).join(', ')}, not ${describe(v)}`);
      return spec.default;
    }
    return v;
  }

  private parse<T>(key: string, text: string, parse: (s: string) => T, what: string): T | undefined {
    try {
      return parse(text);
    } catch {
      this.error(key, `"${text}" ${what}`);
      return undefined;
    }
  }

  /** A port (8080) or a range ("6000-6010"), each within [min, 65535]. */
  private portRange(key: string, v: TomlValue, min: number): { first: number; last: number } | undefined {
    let first: number, last: number;
    if (typeof v === 'number') {
      first = last = v;
    } else if (typeof v === 'string' && /^\d+-\d+$/.test(v)) {
      [first, last] = v.split('-').map(Number) as [number, number];
    } else {
      this.error(key, `must be a port or a range like "61000-65095", not ${describe(v)}`);
      return undefined;
    }
    if (!Number.isInteger(first) || first < min || last > 65535 || first > last) {
      this.error(key, `port range ${first}-${last} must lie within ${min}-65535, first ≤ last`);
      return undefined;
    }
    return { first, last };
  }

  private helpers(v: TomlValue | undefined): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    if (v === undefined) return out;
    if (!isTable(v)) {
      this.error('masq.helpers', 'must be an inline table like { ftp = [21], irc = [6667], tftp = [69] }');
      return out;
    }
    for (const [name, ports] of Object.entries(v)) {
      const key = `masq.helpers.${name}`;
      if (!HELPERS.has(name)) this.error(key, `unknown helper (known: ${[...HELPERS.keys()].join(', ')})`);
      else if (!Array.isArray(ports) || !ports.every((p) => typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535)) this.error(key, 'must be an array of ports, like [21]');
      else out[name] = ports as number[];
    }
    return out;
  }

  /** The tables of a `[[section]]` array, each with its name for errors (`portfw[0]`); its keys checked. */
  private arrayOfTables(section: string): { rule: TomlTable; at: string }[] {
    const list = this.root[section];
    if (list === undefined) return [];
    if (!Array.isArray(list)) {
      this.error(section, `must be written as [[${section}]] sections`);
      return [];
    }
    const out: { rule: TomlTable; at: string }[] = [];
    list.forEach((rule, i) => {
      const at = `${section}[${i}]`;
      if (!isTable(rule)) return this.error(at, 'must be a table');
      this.knownKeys(rule, section, `[[${section}]]`, at);
      out.push({ rule, at });
    });
    return out;
  }

  private triggers(): TriggerRule[] {
    const out: TriggerRule[] = [];
    for (const { rule, at } of this.arrayOfTables('trigger')) {
      const protocol = this.oneOf(rule, 'trigger', 'protocol', at) as 'tcp' | 'udp' | undefined;
      if (protocol === undefined && rule['protocol'] === undefined) this.error(at, 'needs protocol = "tcp" or "udp"');
      const openProtocol = (this.oneOf(rule, 'trigger', 'open_protocol', at) as 'tcp' | 'udp' | undefined) ?? protocol;
      const ports = rule['port'] === undefined ? this.error(at, 'needs port = N or "N-M"') : this.portRange(`${at}.port`, rule['port'], 1);
      const open = rule['open'] === undefined ? this.error(at, 'needs open = N or "N-M"') : this.portRange(`${at}.open`, rule['open'], 1);
      const timeout = this.integer(rule, 'trigger', 'timeout', at);
      if (protocol === undefined || openProtocol === undefined || ports === undefined || open === undefined) continue;
      out.push({ protocol, firstPort: ports.first, lastPort: ports.last, openProtocol, openFirst: open.first, openLast: open.last, timeout });
    }
    return out;
  }

  private dhcp(lan: Prefix): GatewayConfig['dhcp'] {
    const t = this.section('dhcp');
    const range = t['range'] === undefined ? defaultDhcpRange(lan) : this.addressRange('dhcp.range', t['range'], lan) ?? defaultDhcpRange(lan);
    const statics: DhcpStatic[] = [];
    const list = t['static'];
    if (list !== undefined && !Array.isArray(list)) this.error('dhcp.static', 'must be written as [[dhcp.static]] sections');
    (Array.isArray(list) ? list : []).forEach((e, i) => {
      const at = `dhcp.static[${i}]`;
      if (!isTable(e)) return this.error(at, 'must be a table');
      for (const k of Object.keys(e)) if (!['mac', 'address', 'hostname'].includes(k)) this.error(`${at}.${k}`, 'unknown key (known in [[dhcp.static]]: mac, address, hostname)');
      const mac = typeof e['mac'] === 'string' ? e['mac'].toLowerCase().replace(/-/g, ':') : '';
      if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac)) return this.error(`${at}.mac`, 'needs mac = "02:00:00:00:00:01"');
      const address = typeof e['address'] === 'string' ? this.parse(`${at}.address`, e['address'], parseIpv4, 'is not an IPv4 address') : this.error(`${at}.address`, 'needs address = "192.168.0.50"');
      if (address === undefined) return;
      const problem = portForwardProblem(address, lan);
      if (problem !== undefined) return this.error(`${at}.address`, problem);
      const hostname = e['hostname'];
      if (hostname !== undefined && (typeof hostname !== 'string' || !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(hostname))) return this.error(`${at}.hostname`, 'must be a host name: letters, digits and hyphens');
      if (statics.some((s) => s.mac === mac)) return this.error(`${at}.mac`, `${mac} already has a static address`);
      if (statics.some((s) => s.address === address)) return this.error(`${at}.address`, `${formatIpv4(address)} is already another MAC's`);
      statics.push({ mac, address, hostname: typeof hostname === 'string' ? hostname.toLowerCase() : undefined });
    });
    return {
      enabled: this.boolean(t, 'dhcp', 'enabled'),
      range,
      leaseTime: this.integer(t, 'dhcp', 'lease_time'),
      domain: this.string(t, 'dhcp', 'domain'),
      dns: t['dns'] === undefined ? undefined : this.addresses('dhcp.dns', t['dns']),
      statics,
    };
  }

  private dns(): GatewayConfig['dns'] {
    const t = this.section('dns');
    return {
      enabled: this.boolean(t, 'dns', 'enabled'),
      upstream: t['upstream'] === undefined ? undefined : this.addresses('dns.upstream', t['upstream'], 8),
      cacheSize: this.integer(t, 'dns', 'cache_size'),
      hostname: this.string(t, 'dns', 'hostname'),
    };
  }

  private dialins(lan: Prefix): DialinConfig[] {
    const out: DialinConfig[] = [];
    const devices = new Set<string>();
    for (const { rule, at } of this.arrayOfTables('dialin')) {
      const device = this.string(rule, 'dialin', 'device', at);
      if (device === '') this.error(at, 'needs device = "/dev/ttyUSB1" (the answering modem)');
      else if (devices.has(device)) this.error(`${at}.device`, `${device} is already answering in an earlier [[dialin]]`);
      devices.add(device);
      const flowControl = this.oneOf(rule, 'dialin', 'flow_control', at) as 'rtscts' | 'none';
      const pool = rule['pool'] === undefined ? defaultDialinPool(lan) : this.addressRange(`${at}.pool`, rule['pool'], lan);
      const protocols = this.strings(rule, 'dialin', 'protocols', at);
      for (const p of protocols) if (p !== 'ppp' && p !== 'slip') this.error(`${at}.protocols`, `"${p}" is not "ppp" or "slip"`);
      if (protocols.length === 0) this.error(`${at}.protocols`, 'needs "ppp", "slip" or both');
      const entry: DialinConfig = {
        device,
        baud: this.integer(rule, 'dialin', 'baud', at),
        flowControl,
        carrier: (this.oneOf(rule, 'dialin', 'carrier', at) ?? (flowControl === 'rtscts' ? 'dcd' : 'none')) as 'dcd' | 'none',
        init: this.strings(rule, 'dialin', 'init', at),
        rings: this.integer(rule, 'dialin', 'rings', at),
        pool: pool ?? defaultDialinPool(lan),
        dns: rule['dns'] === undefined ? undefined : this.addresses(`${at}.dns`, rule['dns']),
        protocols: protocols.filter((p): p is 'ppp' | 'slip' => p === 'ppp' || p === 'slip'),
        idleTimeout: this.integer(rule, 'dialin', 'idle_timeout', at),
        maxCallTime: this.integer(rule, 'dialin', 'max_call_time', at),
        users: this.dialinUsers(`${at}.users`, rule['users'], lan),
      };
      out.push(entry);
    }
    return out;
  }

  /** `"a.b.c.d-a.b.c.e"` on the LAN, not the gateway's own address, not the network's or broadcast. */
  private addressRange(key: string, v: TomlValue, lan: Prefix): { first: number; last: number } | undefined {
    const m = typeof v === 'string' ? /^(\d+\.\d+\.\d+\.\d+)-(\d+\.\d+\.\d+\.\d+)$/.exec(v) : null;
    if (m === null) {
      this.error(key, `must be a range of addresses like "192.168.0.200-192.168.0.209", not ${describe(v)}`);
      return undefined;
    }
    const first = this.parse(key, m[1]!, parseIpv4, 'is not an IPv4 address');
    const last = this.parse(key, m[2]!, parseIpv4, 'is not an IPv4 address');
    if (first === undefined || last === undefined) return undefined;
    if (first > last) return this.error(key, `${m[1]} comes after ${m[2]}`), undefined;
    if (!inPrefix(first, lan) || !inPrefix(last, lan)) return this.error(key, `must lie on the LAN (${formatPrefix(lan)})`), undefined;
    if (first <= lan.address && lan.address <= last) return this.error(key, `contains the gateway's own address ${formatIpv4(lan.address)}`), undefined;
    if (first === networkOf(lan) || last === broadcastOf(lan)) return this.error(key, 'contains the network\'s own or broadcast address'), undefined;
    return { first, last };
  }

  private addresses(key: string, v: TomlValue, most = 2): number[] | undefined {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return this.error(key, 'must be an array of addresses, like ["192.168.0.1"]'), undefined;
    const out: number[] = [];
    for (const a of v as string[]) {
      const n = this.parse(key, a, parseIpv4, 'is not an IPv4 address');
      if (n !== undefined) out.push(n);
    }
    return out.slice(0, most);
  }

  private dialinUsers(key: string, v: TomlValue | undefined, lan: Prefix): Map<string, DialinUser> {
    const users = new Map<string, DialinUser>();
    if (v === undefined || !isTable(v) || Object.keys(v).length === 0) {
      this.error(key.replace(/\.users$/, ''), 'needs a [dialin.users] table after it, like alice = "wonderland": nobody could call in');
      return users;
    }
    for (const [name, u] of Object.entries(v)) {
      const at = `${key}.${name}`;
      if (typeof u === 'string') {
        users.set(name, { password: u, address: undefined });
        continue;
      }
      if (!isTable(u) || typeof u['password'] !== 'string' || Object.keys(u).some((k) => k !== 'password' && k !== 'address')) {
        this.error(at, 'must be a password in quotes, or { password = "…", address = "192.168.0.205" }');
        continue;
      }
      let address: number | undefined;
      if (u['address'] !== undefined) {
        address = typeof u['address'] === 'string' ? this.parse(`${at}.address`, u['address'], parseIpv4, 'is not an IPv4 address') : undefined;
        if (typeof u['address'] !== 'string') this.error(`${at}.address`, 'must be an address in quotes');
        const problem = address === undefined ? undefined : portForwardProblem(address, lan);
        if (problem !== undefined) {
          this.error(`${at}.address`, problem);
          address = undefined;
        }
      }
      users.set(name, { password: u['password'], address });
    }
    return users;
  }

  private portForwards(): PortForwardConfig[] {
    const out: PortForwardConfig[] = [];
    for (const { rule, at } of this.arrayOfTables('portfw')) {
      const protocol = this.oneOf(rule, 'portfw', 'protocol', at) as 'tcp' | 'udp' | undefined;
      if (protocol === undefined && rule['protocol'] === undefined) this.error(at, 'needs protocol = "tcp" or "udp"');
      const range = rule['port'] === undefined ? this.error(`${at}`, 'needs port = N or "N-M"') : this.portRange(`${at}.port`, rule['port'], 1);
      const to = rule['to'];
      const m = typeof to === 'string' ? /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(to) : null;
      let toAddress: number | undefined;
      let toPort: number | undefined;
      if (m === null) {
        this.error(rule['to'] === undefined ? at : `${at}.to`, `needs to = "inside-address:port", like "192.168.0.10:80"`);
      } else {
        toAddress = this.parse(`${at}.to`, m[1]!, parseIpv4, 'is not an IPv4 address');
        toPort = Number(m[2]);
        if (toPort < 1 || toPort > 65535 || (range !== undefined && toPort + range.last - range.first > 65535)) {
          this.error(`${at}.to`, `inside port ${toPort} is out of range`);
          toPort = undefined;
        }
      }
      if (protocol === undefined || range === undefined || toAddress === undefined || toPort === undefined) continue;
      const clash = out.find((r) => r.protocol === protocol && r.firstPort <= range.last && range.first <= r.lastPort);
      if (clash !== undefined) {
        this.error(`${at}.port`, `overlaps an earlier ${protocol} forward of ${clash.firstPort}-${clash.lastPort}`);
        continue;
      }
      out.push({ protocol, firstPort: range.first, lastPort: range.last, toAddress, toPort });
    }
    return out;
  }
}

function describe(v: TomlValue): string {
  if (typeof v === 'string') return `"${v}"`;
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'a table';
  return String(v);
}

/** The core's flow timeouts from [masq] (unreplied UDP: 30 s, or less if udp_timeout is less; SYN 120 s). */
export function flowTimeoutsOf(m: GatewayConfig['masq']): FlowTimeouts {
  return { tcpEstablished: m.tcpTimeout, tcpFin: m.tcpFinTimeout, tcpSyn: 120, udp: m.udpTimeout, udpUnreplied: Math.min(30, m.udpTimeout), icmp: m.icmpTimeout };
}

/** Why a port forward may not go to `to` (off the LAN, the gateway itself, not a host), or undefined. */
export function portForwardProblem(to: number, lan: Prefix): string | undefined {
  if (!inPrefix(to, lan)) return `${formatIpv4(to)} is not on the LAN (${formatPrefix(lan)})`;
  if (to === lan.address) return `${formatIpv4(to)} is the gateway's own LAN address`;
  if (to === networkOf(lan) || to === broadcastOf(lan)) return `${formatIpv4(to)} is not a host address on the LAN`;
  return undefined;
}

/** The DHCP range when none is set: .100-.199 of the LAN's first /24 (a smaller LAN: its lower half), without the gateway's own address. */
export function defaultDhcpRange(lan: Prefix): { first: number; last: number } {
  const net = networkOf(lan);
  if (lan.length <= 24) return { first: net + 100, last: net + 199 };
  const hosts = broadcastOf(lan) - net - 1;
  const first = net + 1;
  const last = net + Math.max(1, Math.floor(hosts / 2));
  return lan.address === first && last > first ? { first: first + 1, last } : { first, last };
}

/** The dial-in pool when none is set: the top of the LAN below its broadcast (.240-.253 of a /24), without the gateway's own address. */
export function defaultDialinPool(lan: Prefix): { first: number; last: number } {
  const top = Math.max(networkOf(lan) + 1, broadcastOf(lan) - 2);
  const size = Math.min(14, Math.max(1, top - networkOf(lan)));
  let first = top - size + 1;
  let last = top;
  if (lan.address === last) last--;
  else if (lan.address >= first && lan.address <= last) first = lan.address + 1;
  return { first, last };
}

/** Do two networks share any address? */
function overlaps(a: Prefix, b: Prefix): boolean {
  const len = Math.min(a.length, b.length);
  const mask = prefixMask(len);
  return ((a.address & mask) >>> 0) === ((b.address & mask) >>> 0);
}
