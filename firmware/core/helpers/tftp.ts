// TFTP (RFC 1350): an inside client's read or write request goes to the server's port 69, but
// the server answers from a new port of its own, which no flow knows: the answer is expected,
// to the client's outside port, from the server's address.

import { IPPROTO_UDP } from '../wire/ipv4.js';
import type { Helper } from './helper.js';

const RRQ = 1;
const WRQ = 2;

export const tftpHelper: Helper = {
  name: 'tftp',
  protocol: IPPROTO_UDP,
  defaultPorts: [69],
  maxExpected: 1,
  expectTimeoutMs: 300_000,

  datagram(fromInside, payload, ctx) {
    if (!fromInside || !ctx.flow.insideIsClient || payload.length < 4 || payload[0] !== 0) return undefined;
    if (payload[1] !== RRQ && payload[1] !== WRQ) return undefined;
    const f = ctx.flow;
    ctx.expect({ protocol: IPPROTO_UDP, remote: f.remote, remotePort: 0, inside: f.inside, insidePort: f.insidePort, outsidePort: f.outsidePort });
    return undefined;
  },
};
