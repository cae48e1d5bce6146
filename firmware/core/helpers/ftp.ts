// FTP (RFC 959, RFC 2428), the old ip_masq_ftp: an inside client's active mode (PORT, EPRT) gets
// the gateway's outside address and a fresh outside port, and the server's data connection to
// it is expected; a port-forwarded inside server's passive replies (227, 229) get the same.
// An inside client in passive mode needs nothing: it connects out, and is masqueraded.

import { IPPROTO_TCP } from '../wire/ipv4.js';
import { formatIpv4, parseIpv4 } from '../addr.js';
import { ftpHostPort, parseFtpHostPort, type Helper, type HelperContext } from './helper.js';

const PORT = /^(PORT\s+)([\d\s,]+?)\s*$/i;
const EPRT = /^(EPRT\s+)(.)1\2([\d.]+)\2(\d+)\2\s*$/i;
const PASV = /^(227\b.*?\(?)(\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3})(.*)$/;
const EPSV = /^(229\b.*?\((.)\2\2)(\d+)(\2\).*)$/;

function parseAddress(s: string): number | undefined {
  try {
    return parseIpv4(s);
  } catch {
    return undefined;
  }
}

/** Lets the data connection in for `address:port` (which must be the inside end's own); the outside port, or -1. */
function expectData(ctx: HelperContext, address: number, port: number, what: string): number {
  if (address !== ctx.flow.inside || port === 0) {
    ctx.malformed(`${what} names ${formatIpv4(address)}:${port}, not the inside end ${formatIpv4(ctx.flow.inside)}`);
    return -1;
  }
  return ctx.expect({ protocol: IPPROTO_TCP, remote: ctx.flow.remote, remotePort: 0, inside: address, insidePort: port });
}

export const ftpHelper: Helper = {
  name: 'ftp',
  protocol: IPPROTO_TCP,
  defaultPorts: [21],
  maxExpected: 2,
  expectTimeoutMs: 300_000,

  mayRewrite(fromInside, head) {
    if (!fromInside) return false;
    const h = head.toUpperCase();
    return ['PORT', 'EPRT', '227', '229'].some((v) => v.startsWith(h.slice(0, v.length)));
  },

  line(fromInside, line, ctx) {
    if (!fromInside) return undefined;
    if (ctx.flow.insideIsClient) {
      let m = PORT.exec(line);
      if (m !== null) {
        const hp = parseFtpHostPort(m[2]!);
        if (hp === undefined) return void ctx.malformed('PORT without h1,h2,h3,h4,p1,p2');
        const port = expectData(ctx, hp.address, hp.port, 'PORT');
        return port < 0 ? undefined : `${m[1]!}${ftpHostPort(ctx.flow.outside, port)}`;
      }
      m = EPRT.exec(line);
      if (m !== null) {
        const address = parseAddress(m[3]!);
        const p = Number(m[4]);
        if (address === undefined || p > 65535) return void ctx.malformed('EPRT with a bad address or port');
        const port = expectData(ctx, address, p, 'EPRT');
        const d = m[2]!;
        return port < 0 ? undefined : `${m[1]!}${d}1${d}${formatIpv4(ctx.flow.outside)}${d}${port}${d}`;
      }
      if (/^(PORT|EPRT)\b/i.test(line)) ctx.malformed('PORT or EPRT not understood');
      return undefined;
    }
    // A port-forwarded inside server answering PASV or EPSV.
    let m = PASV.exec(line);
    if (m !== null) {
      const hp = parseFtpHostPort(m[2]!.replace(/\s/g, ''));
      if (hp === undefined) return void ctx.malformed('227 without h1,h2,h3,h4,p1,p2');
      const port = expectData(ctx, hp.address, hp.port, '227');
      return port < 0 ? undefined : `${m[1]!}${ftpHostPort(ctx.flow.outside, port)}${m[3]!}`;
    }
    m = EPSV.exec(line);
    if (m !== null) {
      const p = Number(m[3]);
      if (p > 65535) return void ctx.malformed('229 with a bad port');
      const port = expectData(ctx, ctx.flow.inside, p, '229');
      return port < 0 ? undefined : `${m[1]!}${port}${m[4]!}`;
    }
    return undefined;
  },
};
