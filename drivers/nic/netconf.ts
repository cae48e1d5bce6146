// Interface configuration from the gateway's own process: no iproute2, no ethtool, no spawns
// (a start used to make ~40 of them, each ~0.1 s on a slow board). Links, offloads, addresses,
// routes and veth pairs through the addon (addon/netconf.c: ioctls and rtnetlink); addresses
// read with Node's own interface list, routes from /proc/net/route; sysctls are files.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { packetRingAddon } from './packet-link.js';

export type Offload = 'rx' | 'tx' | 'sg' | 'tso' | 'gso' | 'gro';
export const OFFLOADS: readonly Offload[] = ['tx', 'rx', 'tso', 'gso', 'gro', 'sg'];

/** The addon's functions (netconf.c documents each); they throw with the interface's name and errno. */
interface NetconfBinding {
  linkFlags(name: string): { ifindex: number; up: boolean };
  setLinkUp(name: string, up: boolean): void;
  offloads(name: string): Partial<Record<Offload, boolean>>;
  setOffload(name: string, feature: Offload, on: boolean): boolean;
  address(add: boolean, name: string, address: string, prefixLength: number): void;
  route(replace: boolean, destination: string, prefixLength: number, gateway: string, dev: string, metric: number): void;
  addVeth(name: string, peer: string): void;
  deleteLink(name: string): void;
  bindToDevice(fd: number, name: string): void;
}

const native = (): NetconfBinding => (packetRingAddon() as unknown as { netconf: NetconfBinding }).netconf;

export interface Route {
  destination: string;
  prefixLength: number;
  /** '' for a route on the link. */
  gateway: string;
  dev: string;
  metric: number;
}

export function sysctl(path: string, value: string): void {
  writeFileSync(`/proc/sys/${path.replace(/\./g, '/')}`, value);
}

/** Whether the kernel has IPv6 at all: the image boots with ipv6.disable=1 (the gateway is IPv4 only). */
export function kernelHasIpv6(): boolean {
  return existsSync('/proc/sys/net/ipv6');
}

/** The sysctl that turns IPv6 off on one interface, when the kernel has IPv6 (else undefined: nothing to turn off). */
export function ipv6OffSysctl(dev: string): string | undefined {
  return kernelHasIpv6() ? `net.ipv6.conf.${dev}.disable_ipv6` : undefined;
}

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

export function linkIsUp(name: string): boolean {
  return native().linkFlags(name).up;
}

export function setLinkUp(name: string, up: boolean): void {
  native().setLinkUp(name, up);
}

/** The offloads the driver reports as on. */
export function offloadsOn(name: string): Offload[] {
  const o = native().offloads(name);
  return OFFLOADS.filter((f) => o[f] === true);
}

export function setOffload(name: string, feature: Offload, on: boolean): boolean {
  return native().setOffload(name, feature, on);
}

/**
 * Turns off segmentation and checksum offloads: with them, a veth or NIC hands AF_PACKET
 * 64 KB super-frames, and frames whose TCP/UDP checksum is left for hardware to fill. A
 * feature the driver cannot change (fixed) is left as it is.
 */
export function disableOffloads(name: string): void {
  for (const f of OFFLOADS) native().setOffload(name, f, false);
}

/** The interface's IPv4 addresses as "a.b.c.d/len" (its labelled aliases, eth0:1, included). */
export function addressesOf(name: string): string[] {
  return Object.entries(networkInterfaces())
    .filter(([n]) => n === name || n.startsWith(`${name}:`))
    .flatMap(([, list]) => (list ?? []).filter((a) => a.family === 'IPv4').map((a) => a.cidr!))
    .filter((c) => c !== null);
}

export function addAddress(name: string, cidr: string): void {
  const [address, length] = cidr.split('/');
  native().address(true, name, address!, Number(length ?? 32));
}

export function deleteAddress(name: string, cidr: string): void {
  const [address, length] = cidr.split('/');
  native().address(false, name, address!, Number(length ?? 32));
}

/** The main table's IPv4 routes, as the kernel lists them in /proc/net/route. */
export function routes(): Route[] {
  const quad = (hex: string): string => [...Buffer.from(hex, 'hex').reverse()].join('.');
  return readFileSync('/proc/net/route', 'utf8').split('\n').slice(1).filter((l) => l.trim() !== '').map((l) => {
    const [dev, dst, gw, , , , metric, mask] = l.trim().split(/\s+/);
    const prefixLength = quad(mask!).split('.').reduce((n, b) => n + Number(b).toString(2).replace(/0/g, '').length, 0);
    return { destination: quad(dst!), prefixLength, gateway: gw === '00000000' ? '' : quad(gw!), dev: dev!, metric: Number(metric) };
  });
}

export function replaceRoute(r: Route): void {
  native().route(true, r.destination, r.prefixLength, r.gateway, r.dev, r.metric);
}

export function addVeth(name: string, peer: string): void {
  native().addVeth(name, peer);
}

/** SO_BINDTODEVICE: the socket (its fd) sends and hears on that interface only. */
export function bindToDevice(fd: number, name: string): void {
  native().bindToDevice(fd, name);
}

export function deleteLink(name: string): void {
  native().deleteLink(name);
}
