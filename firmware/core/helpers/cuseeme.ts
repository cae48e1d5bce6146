// CU-SeeMe over UDP (port 7648), the old ip_masq_cuseeme. Every packet starts with a 26-byte
// header naming the destination (family, port, address) and the sender (family, port,
// address), big-endian: the inside sender's address becomes the gateway's outside one on the
// way out, and the destination address the inside host's on the way in. An OpenContinue
// packet (data type 101) lists the conference's clients, each as an address and 8 bytes: the
// entry with our outside address is the inside host's own.

import { IPPROTO_UDP } from '../wire/ipv4.js';
import { readU16, readU32, writeU32 } from '../wire/bytes.js';
import type { Helper } from './helper.js';

const HEADER = 26;
const DEST_ADDR = 4;
const SRC_ADDR = 12;
const DATA_TYPE = 22;
const OPEN_CONTINUE = 101;
const CLIENT_COUNT = HEADER;
const CLIENTS = HEADER + 2 + 4 + 20 + 4; // count, sequence, user name, flags
const CLIENT_INFO = 12;

export const cuseemeHelper: Helper = {
  name: 'cuseeme',
  protocol: IPPROTO_UDP,
  defaultPorts: [7648],
  maxExpected: 1,
  expectTimeoutMs: 60_000,

  datagram(fromInside, payload, ctx) {
    if (payload.length < HEADER) return undefined;
    const f = ctx.flow;
    const out = payload.slice();
    let changed = false;
    if (fromInside) {
      if (readU32(out, SRC_ADDR) !== 0 && readU32(out, SRC_ADDR) !== f.outside) {
        writeU32(out, SRC_ADDR, f.outside);
        changed = true;
      }
      return changed ? out : undefined;
    }
    if (readU32(out, DEST_ADDR) !== 0 && readU32(out, DEST_ADDR) !== f.inside) {
      writeU32(out, DEST_ADDR, f.inside);
      changed = true;
    }
    if (readU16(out, DATA_TYPE) === OPEN_CONTINUE && out.length > CLIENTS) {
      const count = readU16(out, CLIENT_COUNT);
      for (let i = 0, at = CLIENTS; i < count && at + CLIENT_INFO <= out.length; i++, at += CLIENT_INFO) {
        if (readU32(out, at) === f.outside) {
          writeU32(out, at, f.inside);
          changed = true;
          break;
        }
      }
    }
    return changed ? out : undefined;
  },
};
