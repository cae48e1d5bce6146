// gateway.toml → a validated GatewayConfig, or every error found, each with its line and key.
// Defaults live here and only here; README's config table mirrors them.

import { formatIpv4, formatPrefix, inPrefix, parseCidr, parseIpv4, type Prefix } from '../core/addr.js';
import { isTable, parseToml, TomlError, type TomlTable, type TomlValue } from './toml.js';

export interface PortForwardConfig {
  protocol: 'tcp' | 'udp';
  firstPort: number;
  lastPort: number;
  toAddress: number;
  toPort: number;
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
  modem: { device: string; baud: number; init: string[]; dial: string; pin: string; apn: string; flowControl: 'rtscts' | 'none'; connectTimeout: number };
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
    maxFlows: number;
    helpers: Record<string, number[]>;
  };
  portfw: PortForwardConfig[];
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' };
  driver: { packetRing: 'v2' | 'v3' };
}

export interface ConfigError {
  line: number;
  /** `wan.address`, `portfw[0].to`, or '' for the file as a whole. */
  key: string;
  message: string;
}

export type ConfigResult = { ok: true; config: GatewayConfig } | { ok: false; errors: ConfigError[] };

export function formatConfigError(file: string, e: ConfigError): string {
  return `${file}:${e.line}: ${e.key === '' ? '' : `${e.key}: `}${e.message}`;
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
  return v.errors.length > 0 ? { ok: false, errors: v.errors.sort((a, b) => a.line - b.line) } : { ok: true, config };
}

const SECTIONS = ['lan', 'wan', 'modem', 'ppp', 'masq', 'portfw', 'log', 'driver'];
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

class Validator {
  readonly errors: ConfigError[] = [];

  constructor(private readonly root: TomlTable, private readonly lines: Map<string, number>) {}

  config(): GatewayConfig {
    for (const k of Object.keys(this.root)) {
      if (!SECTIONS.includes(k)) this.error(k, `unknown section [${k}] (known: ${SECTIONS.join(', ')})`);
    }
    const lan = this.section('lan', ['interface', 'address']);
    const wan = this.section('wan', ['type', 'interface', 'address', 'gateway', 'mtu']);
    const modem = this.section('modem', ['device', 'baud', 'init', 'dial', 'pin', 'apn', 'flow_control', 'connect_timeout']);
    const ppp = this.section('ppp', ['user', 'password', 'persist', 'holdoff', 'max_backoff', 'maxfail', 'auth_retry', 'lcp_echo_interval', 'lcp_echo_failure']);
    const masq = this.section('masq', ['tcp_timeout', 'tcp_fin_timeout', 'udp_timeout', 'icmp_timeout', 'ports', 'max_flows', 'helpers']);
    const log = this.section('log', ['level']);
    const driver = this.section('driver', ['packet_ring']);

    const type = this.oneOf(wan, 'wan', 'type', ['ethernet', 'ppp'] as const, undefined);
    const wanAddress = this.string(wan, 'wan', 'address', 'dhcp');
    let address: Prefix | 'dhcp' = 'dhcp';
    if (wanAddress !== 'dhcp') address = this.parse('wan.address', wanAddress, parseCidr, 'is neither "dhcp" nor an address/prefix like "203.0.113.2/24"') ?? 'dhcp';
    const gatewayText = this.string(wan, 'wan', 'gateway', '');
    const gateway = gatewayText === '' ? undefined : this.parse('wan.gateway', gatewayText, parseIpv4, 'is not an IPv4 address');
    if (type === 'ethernet' && address !== 'dhcp' && gatewayText === '') this.error('wan.address', 'a static WAN address needs wan.gateway (the upstream router)');
    if (type === 'ppp' && wan['interface'] !== undefined) this.error('wan.interface', 'applies to type = "ethernet" only (PPP runs on [modem] device)');

    const lanAddress = this.parse('lan.address', this.string(lan, 'lan', 'address', '192.168.0.1/24'), parseCidr, 'is not an address/prefix like "192.168.0.1/24"');
    if (lanAddress !== undefined && (lanAddress.length < 8 || lanAddress.length > 30)) this.error('lan.address', 'prefix length must be between /8 and /30');

    const tcpTimeout = this.integer(masq, 'masq', 'tcp_timeout', 7200, 1, 864000);
    const tcpFinTimeout = this.integer(masq, 'masq', 'tcp_fin_timeout', 10, 1, 86400);
    const udpTimeout = this.integer(masq, 'masq', 'udp_timeout', 160, 1, 86400);
    const icmpTimeout = this.integer(masq, 'masq', 'icmp_timeout', 30, 1, 86400);
    const ports = this.portRange('masq.ports', masq['ports'] ?? '61000-65095', 1024) ?? { first: 61000, last: 65095 };
    const maxFlows = this.integer(masq, 'masq', 'max_flows', 65536, 64, 4194304);

    const config: GatewayConfig = {
      lan: { interface: this.string(lan, 'lan', 'interface', 'eth0'), address: lanAddress ?? parseCidr('192.168.0.1/24') },
      wan: {
        type: type ?? 'ethernet',
        interface: this.string(wan, 'wan', 'interface', 'eth1'),
        address,
        gateway,
        mtu: wan['mtu'] === undefined ? undefined : this.integer(wan, 'wan', 'mtu', 1500, 576, 9000),
      },
      modem: {
        device: this.string(modem, 'modem', 'device', 'auto'),
        baud: this.integer(modem, 'modem', 'baud', 115200, 300, 4000000),
        init: this.strings(modem, 'modem', 'init', ['ATZ']),
        dial: this.string(modem, 'modem', 'dial', 'ATD*99#'),
        pin: this.string(modem, 'modem', 'pin', ''),
        apn: this.string(modem, 'modem', 'apn', ''),
        flowControl: this.oneOf(modem, 'modem', 'flow_control', ['rtscts', 'none'] as const, 'rtscts') ?? 'rtscts',
        connectTimeout: this.integer(modem, 'modem', 'connect_timeout', 60, 1, 600),
      },
      ppp: {
        user: this.string(ppp, 'ppp', 'user', ''),
        password: this.string(ppp, 'ppp', 'password', ''),
        persist: this.boolean(ppp, 'ppp', 'persist', true),
        holdoff: this.integer(ppp, 'ppp', 'holdoff', 5, 1, 3600),
        maxBackoff: this.integer(ppp, 'ppp', 'max_backoff', 300, 1, 86400),
        maxfail: this.integer(ppp, 'ppp', 'maxfail', 0, 0, 1000000),
        authRetry: this.integer(ppp, 'ppp', 'auth_retry', 300, 1, 86400),
        lcpEchoInterval: this.integer(ppp, 'ppp', 'lcp_echo_interval', 30, 0, 3600),
        lcpEchoFailure: this.integer(ppp, 'ppp', 'lcp_echo_failure', 4, 0, 100),
      },
      masq: { tcpTimeout, tcpFinTimeout, udpTimeout, icmpTimeout, ports, maxFlows, helpers: this.helpers(masq['helpers']) },
      portfw: this.portForwards(),
      log: { level: this.oneOf(log, 'log', 'level', LOG_LEVELS, 'info') ?? 'info' },
      driver: { packetRing: this.oneOf(driver, 'driver', 'packet_ring', ['v2', 'v3'] as const, 'v2') ?? 'v2' },
    };
    if (type === undefined && this.errors.every((e) => e.key !== 'wan.type')) this.error('wan', 'the [wan] section needs type = "ethernet" or "ppp"');
    config.portfw.forEach((r, i) => {
      if (lanAddress !== undefined && !inPrefix(r.toAddress, lanAddress)) this.error(`portfw[${i}].to`, `${formatIpv4(r.toAddress)} is not on the LAN (${formatPrefix(lanAddress)})`);
    });
    return config;
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

  private section(name: string, keys: readonly string[]): TomlTable {
    const s = this.root[name];
    if (s === undefined) return {};
    if (!isTable(s)) {
      this.error(name, `must be a table ([${name}])`);
      return {};
    }
    for (const k of Object.keys(s)) {
      if (!keys.includes(k)) this.error(`${name}.${k}`, `unknown key (known in [${name}]: ${keys.join(', ')})`);
    }
    return s;
  }

  private string(t: TomlTable, section: string, key: string, fallback: string): string {
    const v = t[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'string') {
      this.error(`${section}.${key}`, `must be a string (in quotes), not ${describe(v)}`);
      return fallback;
    }
    return v;
  }

  private strings(t: TomlTable, section: string, key: string, fallback: string[]): string[] {
    const v = t[key];
    if (v === undefined) return fallback;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
      this.error(`${section}.${key}`, 'must be an array of strings, like ["ATZ"]');
      return fallback;
    }
    return v as string[];
  }

  private boolean(t: TomlTable, section: string, key: string, fallback: boolean): boolean {
    const v = t[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') {
      this.error(`${section}.${key}`, `must be true or false, not ${describe(v)}`);
      return fallback;
    }
    return v;
  }

  private integer(t: TomlTable, section: string, key: string, fallback: number, min: number, max: number): number {
    const v = t[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.error(`${section}.${key}`, `must be an integer from ${min} to ${max}, not ${describe(v)}`);
      return fallback;
    }
    return v;
  }

  private oneOf<T extends string>(t: TomlTable, section: string, key: string, allowed: readonly T[], fallback: T | undefined): T | undefined {
    const v = t[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      this.error(`${section}.${key}`, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, not ${describe(v)}`);
      return fallback;
    }
    return v as T;
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
      this.error('masq.helpers', 'must be an inline table like { ftp = [21], irc = [6667] }');
      return out;
    }
    for (const [name, ports] of Object.entries(v)) {
      const key = `masq.helpers.${name}`;
      if (name !== 'ftp' && name !== 'irc') this.error(key, 'unknown helper (known: ftp, irc)');
      else if (!Array.isArray(ports) || !ports.every((p) => typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535)) this.error(key, 'must be an array of ports, like [21]');
      else out[name] = ports as number[];
    }
    return out;
  }

  private portForwards(): PortForwardConfig[] {
    const list = this.root['portfw'];
    if (list === undefined) return [];
    if (!Array.isArray(list)) {
      this.error('portfw', 'must be written as [[portfw]] sections');
      return [];
    }
    const out: PortForwardConfig[] = [];
    list.forEach((rule, i) => {
      const at = `portfw[${i}]`;
      if (!isTable(rule)) return this.error(at, 'must be a table');
      for (const k of Object.keys(rule)) {
        if (!['protocol', 'port', 'to'].includes(k)) this.error(`${at}.${k}`, 'unknown key (known in [[portfw]]: protocol, port, to)');
      }
      const protocol = this.oneOf(rule, at, 'protocol', ['tcp', 'udp'] as const, undefined);
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
      if (protocol === undefined || range === undefined || toAddress === undefined || toPort === undefined) return;
      const clash = out.find((r) => r.protocol === protocol && r.firstPort <= range.last && range.first <= r.lastPort);
      if (clash !== undefined) return this.error(`${at}.port`, `overlaps an earlier ${protocol} forward of ${clash.firstPort}-${clash.lastPort}`);
      out.push({ protocol, firstPort: range.first, lastPort: range.last, toAddress, toPort });
    });
    return out;
  }
}

function describe(v: TomlValue): string {
  if (typeof v === 'string') return `"${v}"`;
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'a table';
  return String(v);
}
