// Commands about the forwarding plane: the connection table (`masq`, as `ipchains -M -L -n`
// showed it), drops and why, neighbours, and port forwards changed at run time.

import type { Clock } from '../clock.js';
import { formatIpv4, parseIpv4 } from '../core/addr.js';
import { flowPage, type FlowFilter, type FlowRecord } from '../core/conntrack/flows.js';
import type { DropRecord } from '../core/drop-log.js';
import type { ForwardingCore } from '../core/core.js';
import { DROP_REASONS, type DropReason } from '../core/counters.js';
import type { PortForwardRule } from '../core/nat/portfw.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../core/wire/ipv4.js';
import type { Datapath } from '../datapath.js';
import type { CommandRegistry } from './commands.js';

const PAGE = 40;
const PROTOCOLS: Record<string, number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, icmp: IPPROTO_ICMP };

export interface MasqListing {
  total: number;
  page: number;
  pages: number;
  flows: FlowRecord[];
  /** Connections the helpers expect (FTP data, DCC, TFTP answers). */
  expectations: ReturnType<ForwardingCore['hooks']['list']>;
}

export interface DropsReport {
  counters: Partial<Record<DropReason, number>>;
  recent: DropRecord[];
}

/** Parses `masq` arguments: addresses, ports and protocol names filter; `--page N` pages. */
export function parseMasqArgs(args: readonly string[]): { filter: FlowFilter; page: number } {
  const filter: FlowFilter = {};
  let page = 1;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--page') {
      page = Number(args[++i]);
      if (!Number.isInteger(page) || page < 1) throw new Error('--page takes a page number from 1');
    } else if (a in PROTOCOLS) {
      filter.protocol = PROTOCOLS[a];
    } else if (/^\d+$/.test(a) && Number(a) <= 65535) {
      filter.port = Number(a);
    } else {
      try {
        filter.address = parseIpv4(a);
      } catch {
        throw new Error(`"${a}" is not an address, a port, tcp, udp, icmp or --page N`);
      }
    }
  }
  return { filter, page };
}

function expiry(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/** A table with columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function formatRule(r: PortForwardRule): string {
  const ports = r.firstPort === r.lastPort ? `${r.firstPort}` : `${r.firstPort}-${r.lastPort}`;
  return `${r.protocol} ${ports} → ${formatIpv4(r.toAddress)}:${r.toPort}`;
}

/** `portfw add tcp 8080 192.168.0.10:80` or a range `tcp 6000-6010 192.168.0.10:6000`. */
export function parseRule(args: readonly string[]): PortForwardRule {
  const [protocol, ports, to] = args;
  if ((protocol !== 'tcp' && protocol !== 'udp') || ports === undefined || to === undefined || args.length !== 3) {
    throw new Error('usage: portfw add tcp|udp PORT[-LAST] ADDRESS:PORT');
  }
  const m = /^(\d+)(?:-(\d+))?$/.exec(ports);
  const t = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(to);
  if (m === null || t === null) throw new Error('usage: portfw add tcp|udp PORT[-LAST] ADDRESS:PORT');
  const firstPort = Number(m[1]);
  return { protocol, firstPort, lastPort: m[2] === undefined ? firstPort : Number(m[2]), toAddress: parseIpv4(t[1]!), toPort: Number(t[2]) };
}

export interface PortForwardPolicy {
  /** Checks a rule as gateway.toml's [[portfw]] would be checked (on the LAN, not the gateway). */
  check(rule: PortForwardRule): string | undefined;
  /** The rules changed: remembered for `config save`. */
  changed(rules: PortForwardRule[]): void;
}

export function registerDatapathCommands(commands: CommandRegistry, datapath: Datapath, clock: Clock, portfw: PortForwardPolicy): void {
  const core = datapath.core;
  commands.register<MasqListing>({
    name: 'masq',
    summary: 'the connection table, as ipchains -M -L -n showed it',
    usage: 'masq [ADDRESS|PORT|tcp|udp|icmp]... [--page N]',
    words: ['tcp', 'udp', 'icmp', '--page'],
    run: (args) => {
      const { filter, page } = parseMasqArgs(args);
      const { total, flows } = flowPage(core.table, clock.now(), filter, (page - 1) * PAGE, PAGE, (id) => core.hooks.helperOf(id));
      return { total, page, pages: Math.max(1, Math.ceil(total / PAGE)), flows, expectations: core.hooks.list(clock.now()) };
    },
    text: (r) => {
      const rows = r.flows.map((f) => [f.protocol.toUpperCase(), expiry(f.expiresIn), f.inside, f.outsidePort, f.remote, f.state, f.bytes, f.helper === undefined ? f.kind : `${f.kind} (${f.helper})`]);
      const more = r.pages > 1 ? `\npage ${r.page} of ${r.pages} (masq ... --page ${Math.min(r.page + 1, r.pages)})` : '';
      const expected = r.expectations.length === 0 ? '' : `\n\nexpected connections:\n${table(['helper', 'prot', 'outside', 'inside', 'from', 'expire'], r.expectations.map((e) => [e.helper, e.protocol.toUpperCase(), e.outside, e.inside, e.remote, expiry(e.expiresIn)]))}`;
      return `${table(['prot', 'expire', 'inside', 'outport', 'remote', 'state', 'bytes', 'kind'], rows)}\n${r.total} flow${r.total === 1 ? '' : 's'}${more}${expected}`;
    },
  });
  commands.register<DropsReport>({
    name: 'drops',
    summary: 'drop counters by reason, and the last dropped packets with theirs',
    run: () => {
      const counters: Partial<Record<DropReason, number>> = {};
      for (const r of DROP_REASONS) if (core.counters.drops[r] > 0) counters[r] = core.counters.drops[r];
      return { counters, recent: core.drops.recent() };
    },
    text: (r) => {
      const counts = Object.entries(r.counters).map(([k, v]) => [k, v]);
      const now = clock.now();
      const recent = r.recent.map((d) => [`${Math.round((now - d.at) / 1000)} s ago`, d.iface, d.reason, d.packet]);
      return `${counts.length === 0 ? 'no drops' : table(['reason', 'count'], counts)}\n\nlast dropped:\n${recent.length === 0 ? '(none)' : table(['when', 'link', 'reason', 'packet'], recent)}`;
    },
  });
  commands.register({
    name: 'links',
    summary: 'each link\'s counters: received, dropped by the kernel, refused on send, checksums completed',
    run: () => datapath.snapshot({}).links,
    text: (links) => {
      const keys = [...new Set(links.flatMap((l) => Object.keys(l).filter((k) => k !== 'name')))];
      return table(['link', ...keys], links.map((l) => [l.name, ...keys.map((k) => l[k] ?? '-')]));
    },
  });
  commands.register({
    name: 'arp',
    summary: 'the neighbour table of each Ethernet link',
    run: () => core.neighbours(clock.now()),
    text: (list) => table(['link', 'address', 'mac', 'age', 'waiting'], list.map((n) => [n.iface, n.ip, n.mac ?? '(asking)', `${n.ageSeconds} s`, n.waiting])),
  });
  commands.register<{ rules: string[] }>({
    name: 'portfw',
    summary: 'port forwards: list, add, del (live; `config save` keeps them)',
    usage: 'portfw list | portfw add tcp|udp PORT[-LAST] ADDRESS:PORT | portfw del tcp|udp PORT',
    words: ['list', 'add', 'del', 'tcp', 'udp'],
    run: ([verb = 'list', ...rest]) => {
      let rules = core.portForwardRules;
      if (verb === 'add') {
        const rule = parseRule(rest);
        const problem = portfw.check(rule);
        if (problem !== undefined) throw new Error(problem);
        rules = [...rules, rule];
      } else if (verb === 'del') {
        const [protocol, port] = rest;
        const n = Number(port);
        const keep = rules.filter((r) => !(r.protocol === protocol && n >= r.firstPort && n <= r.lastPort));
        if (keep.length === rules.length) throw new Error(`no ${protocol ?? '?'} forward of port ${port ?? '?'}`);
        rules = keep;
      } else if (verb !== 'list') {
        throw new Error('usage: portfw list | add tcp|udp PORT[-LAST] ADDRESS:PORT | del tcp|udp PORT');
      }
      if (verb !== 'list') {
        core.setPortForwards(rules);
        portfw.changed(rules);
      }
      return { rules: core.portForwardRules.map(formatRule) };
    },
    text: (r) => (r.rules.length === 0 ? 'no port forwards' : r.rules.join('\n')),
  });
}
