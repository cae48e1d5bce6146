// VDOLive (TCP port 7000), the old ip_masq_vdolive. The client's control stream names the UDP
// port the video is to come to: in the first packet (tag 6 in its second 32-bit word, "VDO Live"
// at byte 24) and in a later one (tag 1, "VDO Live" at byte 8), the port being the low half of
// the 32-bit word after the tag text. It becomes one fresh outside port for the connection, and
// the server's UDP stream to it is expected.

import { IPPROTO_TCP, IPPROTO_UDP } from '../wire/ipv4.js';
import { readU16, readU32, writeU16 } from '../wire/bytes.js';
import type { Helper } from './helper.js';

const TAG = 'VDO Live';

export const vdoliveHelper: Helper = {
  name: 'vdolive',
  protocol: IPPROTO_TCP,
  defaultPorts: [7000],
  maxExpected: 1,
  expectTimeoutMs: 300_000,

  stream(fromInside, payload, ctx) {
    if (!fromInside || !ctx.flow.insideIsClient || payload.length < 8) return undefined;
    const tag = readU32(payload, 4);
    const at = tag === 6 ? 24 : tag === 1 ? 8 : -1;
    if (at < 0 || payload.length < at + 12 || String.fromCharCode(...payload.subarray(at, at + 8)) !== TAG) return undefined;
    const portAt = at + 10;
    const port = readU16(payload, portAt);
    if (port === 0) return void ctx.malformed('VDOLive with UDP port 0');
    const f = ctx.flow;
    // Both packets name the same port, and the server is told the same outside port both times.
    const outside = ctx.state['outside'] ?? ctx.expect({ protocol: IPPROTO_UDP, remote: f.remote, remotePort: 0, inside: f.inside, insidePort: port });
    if (outside < 0) return undefined;
    ctx.state['outside'] = outside;
    const out = payload.slice();
    writeU16(out, portAt, outside);
    return out;
  },
};
