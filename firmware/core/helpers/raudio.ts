// RealAudio (TCP 7070 and 554), the old ip_masq_raudio: the client's control stream announces the
// UDP port the audio is to come to. PNA: after "PNA" and a 16-bit version (below 256), options
// as 16-bit id, 16-bit length and value, all big-endian, up to id 0; id 1 (the audio port) and
// id 7 (the error-correction port) carry a UDP port, rewritten in place to a fresh outside one.
// RTSP: a request's `Transport: ...;client_port=A[-B]` gets the outside ports instead (the text
// may change length). Either way the server's UDP to those ports is expected.

import { IPPROTO_TCP, IPPROTO_UDP } from '../wire/ipv4.js';
import { readU16, writeU16 } from '../wire/bytes.js';
import type { Helper, HelperContext } from './helper.js';

const PNA_AUDIO_PORT = 1;
const PNA_ERROR_PORT = 7;
const CLIENT_PORT = /(\btransport:[^\r\n]*?\bclient_port=)(\d{1,5})(?:-(\d{1,5}))?/gi;

function expectUdp(ctx: HelperContext, port: number): number {
  const f = ctx.flow;
  return ctx.expect({ protocol: IPPROTO_UDP, remote: f.remote, remotePort: 0, inside: f.inside, insidePort: port });
}

function pna(payload: Uint8Array, ctx: HelperContext): Uint8Array | undefined {
  if (payload.length < 5 || readU16(payload, 3) >= 256) return undefined;
  let out: Uint8Array | undefined;
  for (let at = 5; at + 4 <= payload.length; ) {
    const id = readU16(payload, at);
    const len = readU16(payload, at + 2);
    if (id === 0) break;
    const value = at + 4;
    if (value + len > payload.length) {
      ctx.malformed('PNA option runs past the segment');
      break;
    }
    if ((id === PNA_AUDIO_PORT || id === PNA_ERROR_PORT) && len >= 2) {
      const port = readU16(payload, value);
      if (port !== 0) {
        const outside = expectUdp(ctx, port);
        if (outside >= 0) {
          out ??= payload.slice();
          writeU16(out, value, outside);
        }
      }
    }
    at = value + len;
  }
  return out;
}

export const raudioHelper: Helper = {
  name: 'raudio',
  protocol: IPPROTO_TCP,
  defaultPorts: [7070, 554],
  maxExpected: 4,
  expectTimeoutMs: 300_000,

  stream(fromInside, payload, ctx) {
    if (!fromInside || !ctx.flow.insideIsClient) return undefined;
    if (payload[0] === 0x50 && payload[1] === 0x4e && payload[2] === 0x41) return pna(payload, ctx); // "PNA"
    const text = String.fromCharCode(...payload.subarray(0, Math.min(payload.length, 8192)));
    if (!/client_port=/i.test(text)) return undefined;
    let changed = false;
    const rewritten = text.replace(CLIENT_PORT, (all, head: string, a: string, b: string | undefined) => {
      const first = expectUdp(ctx, Number(a));
      const second = b === undefined ? -1 : expectUdp(ctx, Number(b));
      if (first < 0 || (b !== undefined && second < 0)) return all;
      changed = true;
      return `${head}${first}${b === undefined ? '' : `-${second}`}`;
    });
    if (!changed) return undefined;
    const out = new Uint8Array(rewritten.length + payload.length - Math.min(payload.length, 8192));
    for (let i = 0; i < rewritten.length; i++) out[i] = rewritten.charCodeAt(i);
    out.set(payload.subarray(Math.min(payload.length, 8192)), rewritten.length);
    return out;
  },
};
