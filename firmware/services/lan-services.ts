// The LAN services as parts, from the config: the DHCP server and the DNS forwarder, and the
// name servers the gateway hands out (to DHCP clients and dial-in callers): itself while the
// forwarder runs, else the WAN's (IPCP, the DHCP lease) as they are now.

import type { Clock } from '../clock.js';
import type { GatewayConfig } from '../config/schema.js';
import { parseIpv4 } from '../core/addr.js';
import type { EventBus } from '../events.js';
import type { Part } from '../part.js';
import { DhcpServerPart } from './dhcp/server-part.js';
import { DnsForwarder } from './dns/forwarder.js';

export interface LanServices {
  parts: Part[];
  /** The name servers to hand out when none are configured. */
  defaultDns: () => number[];
}

export function lanServices(config: GatewayConfig, o: { stateDir: string; events: EventBus; clock: Clock }): LanServices {
  const wanDns = (): number[] => (o.events.last('address')?.dns ?? []).map(parseIpv4);
  const defaultDns = (): number[] => (config.dns.enabled ? [config.lan.address.address] : wanDns());
  const inDialinPool = (a: number): boolean => config.dialin.some((d) => (a >= d.pool.first && a <= d.pool.last) || [...d.users.values()].some((u) => u.address === a));
  const dhcp = config.dhcp.enabled ? new DhcpServerPart(config.dhcp, { lan: config.lan, stateDir: o.stateDir, mtu: undefined, excluded: inDialinPool, defaultDns }) : undefined;
  const parts: Part[] = dhcp !== undefined ? [dhcp] : [];
  if (config.dns.enabled) {
    parts.push(new DnsForwarder(config.dns.cacheSize, {
      lan: config.lan.address, domain: config.dhcp.domain, hostname: config.dns.hostname,
      upstream: () => config.dns.upstream ?? wanDns(),
      hosts: () => (dhcp?.server?.list(o.clock.wall()) ?? []).flatMap((l) => (l.hostname !== undefined ? [{ name: l.hostname, address: l.address }] : [])),
    }));
  }
  return { parts, defaultDns };
}
