// The host link (DESIGN.md, "Who owns which address"): a veth pair whose kernel end carries the
// gateway's own outbound traffic (DNS, NTP, the watchdog's pings) and whose other end the core
// opens like any LAN port, masquerading it like a LAN host. The kernel's default route points
// at the core; the kernel itself never holds the WAN address.

import { addAddress, addVeth, deleteLink, disableOffloads, ipv6OffSysctl, linkExists, replaceRoute, setLinkUp, sysctl } from './netconf.js';

export const HOST_LINK_KERNEL = 'gw-host';
export const HOST_LINK_CORE = 'gw-core';
/** Link-local: never routed, never clashes with a LAN or an ISP's carrier-grade NAT range. */
export const HOST_LINK_PREFIX = '169.254.255.1/30';
export const HOST_LINK_CORE_ADDRESS = '169.254.255.2';

export interface HostLink {
  /** The interface the core opens. */
  coreSide: string;
  /** The core's address on it (the kernel's default gateway). */
  coreAddress: string;
  remove(): void;
}

export function createHostLink(): HostLink {
  if (linkExists(HOST_LINK_KERNEL)) deleteLink(HOST_LINK_KERNEL); // left over from a crash
  addVeth(HOST_LINK_KERNEL, HOST_LINK_CORE);
  for (const dev of [HOST_LINK_KERNEL, HOST_LINK_CORE]) {
    const ipv6 = ipv6OffSysctl(dev);
    if (ipv6 !== undefined) sysctl(ipv6, '1');
    // Checksums must be complete in the frames the core reads.
    disableOffloads(dev);
  }
  addAddress(HOST_LINK_KERNEL, HOST_LINK_PREFIX);
  setLinkUp(HOST_LINK_KERNEL, true);
  setLinkUp(HOST_LINK_CORE, true);
  replaceRoute({ destination: '0.0.0.0', prefixLength: 0, gateway: HOST_LINK_CORE_ADDRESS, dev: HOST_LINK_KERNEL, metric: 0 });
  return {
    coreSide: HOST_LINK_CORE,
    coreAddress: `${HOST_LINK_CORE_ADDRESS}/${HOST_LINK_PREFIX.split('/')[1]}`,
    remove: removeHostLink,
  };
}

/** Deletes the host link (both ends go with the veth pair), if it is there. */
export function removeHostLink(): void {
  if (linkExists(HOST_LINK_KERNEL)) deleteLink(HOST_LINK_KERNEL);
}
