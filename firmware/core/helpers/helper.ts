// What an application helper is (DESIGN.md, "Flow hooks"): a plug-in that sees the payloads of
// the control connections it is switched on for, may rewrite addresses and ports in them, and may
// expect connections the protocol is about to open ("a connection from this remote to this
// outside port belongs to that inside host"). The tracking part (parsing, expecting) and the NAT
// part (the rewrite) are kept apart as netfilter keeps nf_conntrack_ftp and nf_nat_ftp: a helper
// parses and says what the text should become; hooks.ts does the mangling, the TCP sequence
// adjustment and the expectation table.

/** The control connection as the helper sees it, whichever side opened it. */
export interface HelperFlow {
  /** The inside end: a client behind the masquerade, or a port-forwarded server. */
  inside: number;
  insidePort: number;
  /** The address and port the inside end has on the outside. */
  outside: number;
  outsidePort: number;
  /** The outside end. */
  remote: number;
  remotePort: number;
  /** True when the inside end opened the connection (masquerade); false for a port forward. */
  insideIsClient: boolean;
}

/** A connection the protocol announced, to be let in and sent to the inside host. */
export interface ExpectationRequest {
  protocol: number;
  /** Who may connect: an address (0: any) and a port (0: any). */
  remote: number;
  remotePort: number;
  /** Where it goes inside. */
  inside: number;
  insidePort: number;
  /** The outside port to expect it on; a fresh one is picked when absent. */
  outsidePort?: number;
}

export interface HelperContext {
  readonly flow: HelperFlow;
  /** The helper's own notes about this control connection (kept with it, gone with it). */
  readonly state: Record<string, number>;
  /** Registers an expectation; returns the outside port it waits on, or -1 if refused (bounds, no port). */
  expect(e: ExpectationRequest): number;
  /** A command or reply the helper recognised but could not parse: left alone, and counted. */
  malformed(what: string): void;
}

export interface Helper {
  readonly name: string;
  /** The control connection's protocol (IPPROTO_TCP or IPPROTO_UDP). */
  readonly protocol: number;
  readonly defaultPorts: readonly number[];
  /** Expectations one control connection may have waiting (the oldest goes beyond), and how long each waits. */
  readonly maxExpected: number;
  readonly expectTimeoutMs: number;
  /**
   * TCP, line protocols: whether an unfinished line at the end of a segment may need rewriting
   * once complete; if so it is held back and joined to the next segment (commands split across
   * segments).
   */
  mayRewrite?(fromInside: boolean, head: string): boolean;
  /** TCP: one complete line (latin1, without its end of line); its replacement, or undefined to leave it. */
  line?(fromInside: boolean, line: string, ctx: HelperContext): string | undefined;
  /** TCP, byte streams: a segment's payload; a replacement, or undefined to leave it. */
  stream?(fromInside: boolean, payload: Uint8Array, ctx: HelperContext): Uint8Array | undefined;
  /** UDP: one datagram's payload; a replacement, or undefined to leave it. */
  datagram?(fromInside: boolean, payload: Uint8Array, ctx: HelperContext): Uint8Array | undefined;
}

/** a.b.c.d as FTP's PORT and 227 write it: "a,b,c,d,p1,p2". */
export function ftpHostPort(address: number, port: number): string {
  return `${address >>> 24},${(address >>> 16) & 255},${(address >>> 8) & 255},${address & 255},${port >>> 8},${port & 255}`;
}

/** Parses "h1,h2,h3,h4,p1,p2" (RFC 959); undefined unless every number is a byte. */
export function parseFtpHostPort(s: string): { address: number; port: number } | undefined {
  const parts = s.trim().split(',');
  if (parts.length !== 6 || !parts.every((p) => /^\d{1,3}$/.test(p.trim()) && Number(p) <= 255)) return undefined;
  const n = parts.map(Number);
  return { address: ((n[0]! << 24) | (n[1]! << 16) | (n[2]! << 8) | n[3]!) >>> 0, port: (n[4]! << 8) | n[5]! };
}
