// Quake I (NetQuake) over UDP, the old ip_masq_quake (ports 26000, 27000; the HOWTO loads it
// with 27910 and 27960 too). Control packets start with the flag 0x8000 and a length, both
// big-endian, then a code. A client's connect request (0x01, "QUAKE\0" and protocol 3) is
// answered by the server's accept (0x81) naming, little-endian, the port the game continues on:
// an inside client's server will talk from that port, so it is expected; an inside
// (port-forwarded) server's accept gets a fresh outside port, and the client's packets to it
// are expected.

import { IPPROTO_UDP } from '../wire/ipv4.js';
import type { Helper } from './helper.js';

const CONTROL = 0x8000;
const CONNECT = 0x01;
const ACCEPT = 0x81;
const GAME = 'QUAKE\0';

function isControl(p: Uint8Array, code: number, minLength: number): boolean {
  return p.length >= minLength && ((p[0]! << 8) | p[1]!) === CONTROL && p[4] === code;
}

export const quakeHelper: Helper = {
  name: 'quake',
  protocol: IPPROTO_UDP,
  defaultPorts: [26000, 27000, 27910, 27960],
  maxExpected: 2,
  expectTimeoutMs: 60_000,

  datagram(fromInside, payload, ctx) {
    if (isControl(payload, CONNECT, 12)) {
      if (String.fromCharCode(...payload.subarray(5, 11)) !== GAME) ctx.malformed('Quake connect request without "QUAKE"');
      return undefined;
    }
    if (!isControl(payload, ACCEPT, 9)) return undefined;
    const port = payload[5]! | (payload[6]! << 8);
    if (port === 0) return void ctx.malformed('Quake accept with port 0');
    const f = ctx.flow;
    if (!fromInside && f.insideIsClient) {
      // The server goes on from `port`, to the client's same outside port.
      ctx.expect({ protocol: IPPROTO_UDP, remote: f.remote, remotePort: port, inside: f.inside, insidePort: f.insidePort, outsidePort: f.outsidePort });
      return undefined;
    }
    if (fromInside && !f.insideIsClient) {
      const outside = ctx.expect({ protocol: IPPROTO_UDP, remote: f.remote, remotePort: f.remotePort, inside: f.inside, insidePort: port });
      if (outside < 0) return undefined;
      const out = payload.slice();
      out[5] = outside & 0xff;
      out[6] = outside >>> 8;
      return out;
    }
    return undefined;
  },
};
