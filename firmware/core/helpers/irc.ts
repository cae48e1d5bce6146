// IRC DCC (the CTCP Direct Client-to-Client protocol), the old ip_masq_irc: an inside client
// offering a file (DCC SEND) or a chat (DCC CHAT) names its address, as a decimal integer, and a
// port; they are rewritten to the gateway's outside address and a fresh outside port, and the
// peer's connection to it is expected. DCC RESUME and ACCEPT, and reverse DCC (port 0), pass
// as they are.

import { IPPROTO_TCP } from '../wire/ipv4.js';
import { formatIpv4 } from '../addr.js';
import type { Helper } from './helper.js';

// PRIVMSG target :\x01DCC SEND name address port [size]\x01 (the name may be quoted).
const DCC = /^(.*?\bPRIVMSG\s+\S+\s+:\x01DCC\s+(?:SEND|CHAT)\s+(?:"[^"]*"|\S+)\s+)(\d+)(\s+)(\d+)(.*)$/i;

export const ircHelper: Helper = {
  name: 'irc',
  protocol: IPPROTO_TCP,
  defaultPorts: [6667],
  maxExpected: 8,
  expectTimeoutMs: 300_000,

  mayRewrite(fromInside, head) {
    if (!fromInside) return false;
    const h = head.toUpperCase();
    return h.includes('PRIVMSG') || 'PRIVMSG'.startsWith(h.slice(0, 7));
  },

  line(fromInside, line, ctx) {
    if (!fromInside || !line.includes('\x01DCC')) return undefined;
    const m = DCC.exec(line);
    if (m === null) return undefined;
    const address = Number(m[2]);
    const port = Number(m[4]);
    if (port === 0) return undefined; // reverse DCC: the peer is the one listening
    if (!Number.isSafeInteger(address) || address > 0xffffffff || port > 65535) return void ctx.malformed('DCC with a bad address or port');
    if (address !== ctx.flow.inside) return void ctx.malformed(`DCC names ${formatIpv4(address >>> 0)}, not the inside client ${formatIpv4(ctx.flow.inside)}`);
    const outside = ctx.expect({ protocol: IPPROTO_TCP, remote: 0, remotePort: 0, inside: address, insidePort: port });
    if (outside < 0) return undefined;
    return `${m[1]!}${ctx.flow.outside >>> 0}${m[3]!}${outside}${m[5]!}`;
  },
};
