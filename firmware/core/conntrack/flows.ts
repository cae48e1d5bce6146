// What the NAT layer's per-flow flags and states mean, and flows as people read them
// (`gateway status --flows`, the console's `masq`): a walk of the table that compares numbers and
// builds records only for the page asked for.

import { formatIpv4 } from '../addr.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../wire/ipv4.js';
import type { ConntrackTable } from './table.js';
import { TCP_STATE_NAMES } from './tcp-states.js';

export const FLOW_SNAT = 1; // source rewritten: masquerade (reply tuple's destination is an outside address)
export const FLOW_DNAT = 2; // destination rewritten: port forward
export const FLOW_UDP_MAPPING = 4; // holds a reference on an endpoint-independent UDP mapping
export const FLOW_HELPER = 8; // an application helper sees its payloads (core/hooks.ts)

/** A UDP or ICMP flow's state once the other end answered. */
export const UDP_REPLIED = 1;

/** One flow as `gateway status --flows` and the console's `masq` show it. */
export interface FlowRecord {
  protocol: 'tcp' | 'udp' | 'icmp';
  /** What the flow does: source NAT, a port forward, both (hairpin), or neither (routed). */
  kind: 'masquerade' | 'portfw' | 'hairpin' | 'routed';
  /** The original direction as it arrived, and the reply direction as it arrives. */
  original: string;
  reply: string;
  /** As `ipchains -M -L -n` showed it: the inside host, the gateway's outside port, the remote end. */
  inside: string;
  outsidePort: number;
  remote: string;
  state: string;
  /** Seconds until it expires unless traffic refreshes it. */
  expiresIn: number;
  /** IP bytes through the flow, both directions. */
  bytes: number;
  /** The application helper that sees its payloads, if any. */
  helper?: string;
}

/** What `masq` may select by: any end's address, any port, the protocol. */
export interface FlowFilter {
  address?: number;
  port?: number;
  protocol?: number;
}

/**
 * One page of the flows a filter selects, and how many it selects in all. The walk compares
 * numbers only; records are built for the page alone, so listing a table of 100 k flows
 * costs a few milliseconds, not a stall.
 */
export function flowPage(t: ConntrackTable, now: number, filter: FlowFilter, offset: number, limit: number, helperOf?: (id: number) => string | undefined): { total: number; flows: FlowRecord[] } {
  const flows: FlowRecord[] = [];
  let total = 0;
  t.forEachLive((id) => {
    if (!flowMatches(t, id, filter)) return;
    if (total >= offset && flows.length < limit) {
      const r = flowRecord(t, now, id);
      const helper = t.flagsOf(id) & FLOW_HELPER ? helperOf?.(id) : undefined;
      flows.push(helper === undefined ? r : { ...r, helper });
    }
    total++;
  });
  return { total, flows };
}

function flowMatches(t: ConntrackTable, id: number, f: FlowFilter): boolean {
  const o = id * 2;
  const r = o + 1;
  if (f.protocol !== undefined && t.protocolOf(id) !== f.protocol) return false;
  if (f.address !== undefined && t.src(o) !== f.address && t.dst(o) !== f.address && t.src(r) !== f.address && t.dst(r) !== f.address) return false;
  if (f.port !== undefined) {
    const po = t.ports(o);
    const pr = t.ports(r);
    if (po >>> 16 !== f.port && (po & 0xffff) !== f.port && pr >>> 16 !== f.port && (pr & 0xffff) !== f.port) return false;
  }
  return true;
}

function flowRecord(t: ConntrackTable, now: number, id: number): FlowRecord {
  const protocol = t.protocolOf(id);
  const flags = t.flagsOf(id);
  const snat = (flags & FLOW_SNAT) !== 0;
  const dnat = (flags & FLOW_DNAT) !== 0;
  const o = id * 2;
  const r = o + 1;
  const icmp = protocol === IPPROTO_ICMP;
  const tuple = (key: number): string => {
    const p = t.ports(key);
    if (icmp) return `${formatIpv4(t.src(key))} → ${formatIpv4(t.dst(key))} id ${(p >>> 16) | (p & 0xffff)}`;
    return `${formatIpv4(t.src(key))}:${p >>> 16} → ${formatIpv4(t.dst(key))}:${p & 0xffff}`;
  };
  const end = (addr: number, port: number): string => (icmp ? formatIpv4(addr) : `${formatIpv4(addr)}:${port}`);
  // A port forward's inside host is the reply's source; a masqueraded flow's, the original's.
  const fromOutside = dnat && !snat;
  return {
    protocol: protocol === IPPROTO_TCP ? 'tcp' : protocol === IPPROTO_UDP ? 'udp' : 'icmp',
    kind: snat && dnat ? 'hairpin' : snat ? 'masquerade' : dnat ? 'portfw' : 'routed',
    original: tuple(o),
    reply: tuple(r),
    inside: fromOutside ? end(t.src(r), t.ports(r) >>> 16) : end(t.src(o), t.ports(o) >>> 16),
    outsidePort: fromOutside && !icmp ? t.ports(o) & 0xffff : t.ports(r) & 0xffff,
    remote: fromOutside ? end(t.src(o), t.ports(o) >>> 16) : end(t.dst(o), t.ports(o) & 0xffff),
    state: protocol === IPPROTO_TCP ? TCP_STATE_NAMES[t.stateOf(id)] ?? String(t.stateOf(id)) : t.stateOf(id) === UDP_REPLIED ? 'REPLIED' : 'UNREPLIED',
    expiresIn: Math.max(0, Math.round((t.expiresAt(id) - now) / 1000)),
    bytes: t.bytesOf(id),
  };
}
