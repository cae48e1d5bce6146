// A gateway on the in-memory packet ring (no root): the LAN port and a WAN with a static
// address, as the datapath and LED tests drive them, with the MACs and the ARP frames they use.

import { parseIpv4 } from '../../firmware/core/addr.js';
import { ARP_LEN, ARP_REQUEST, emitArp } from '../../firmware/core/wire/arp.js';
import { BROADCAST_MAC, ETHERNET_HEADER_LEN, ETHERTYPE_ARP, parseMac, writeEthernetHeader } from '../../firmware/core/wire/ethernet.js';
import { parseConfig, type GatewayConfig } from '../../firmware/config/schema.js';
import { LanPort } from '../../firmware/lan/lan-port.js';
import { EthernetWan } from '../../firmware/wan/ethernet-wan.js';
import { world, type World } from './parts.js';

export const LAN_MAC = parseMac('02:00:00:00:01:01');
export const WAN_MAC = parseMac('02:00:00:00:02:02');
export const HOST_MAC = parseMac('02:10:00:00:00:64');
export const ROUTER_MAC = parseMac('02:00:00:00:00:fe');

/** A config with the LAN on lan0 and an Ethernet WAN on wan0, and `extra` lines in [wan]. */
export function config(extra = ''): GatewayConfig {
  const r = parseConfig(`[lan]\ninterface = "lan0"\n[wan]\ntype = "ethernet"\ninterface = "wan0"\n${extra}`);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

export function arp(op: number, srcMac: Uint8Array, srcIp: string, dstMac: Uint8Array, targetIp: string): Uint8Array {
  const f = new Uint8Array(ETHERNET_HEADER_LEN + ARP_LEN);
  writeEthernetHeader(f, 0, op === ARP_REQUEST ? BROADCAST_MAC : dstMac, srcMac, ETHERTYPE_ARP);
  emitArp({ operation: op, senderMac: srcMac, senderIp: parseIpv4(srcIp), targetMac: op === ARP_REQUEST ? new Uint8Array(6) : dstMac, targetIp: parseIpv4(targetIp) }, f, ETHERNET_HEADER_LEN);
  return f;
}

/** LAN 192.168.0.1/24 on lan0, WAN 203.0.113.2/24 via 203.0.113.1 on wan0, the datapath started. */
export async function staticGateway(): Promise<World & { lan: LanPort }> {
  const w = world();
  w.ring.addInterface('lan0', LAN_MAC);
  w.ring.addInterface('wan0', WAN_MAC);
  const c = config('address = "203.0.113.2/24"\ngateway = "203.0.113.1"');
  const lan = new LanPort(c.lan);
  await lan.start(w.ctx);
  await new EthernetWan(c.wan, { stateDir: '/nonexistent' }).start(w.ctx);
  w.datapath.start();
  return { ...w, lan };
}
