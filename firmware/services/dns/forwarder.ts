// The caching DNS forwarder on the LAN address, UDP and TCP port 53 (DESIGN.md: ordinary sockets
// on the address the kernel holds). Local names first (the gateway's own, DHCP clients' and
// statics' host names in the LAN domain, and their reverse lookups), then the cache, then the
// upstream servers: the WAN's (IPCP, the DHCP lease) or [dns] upstream, in order, passing over
// one that stops answering. Each upstream query goes from a socket on a random port, renewed
// every minute, with a random ID, and only an answer from that server, with that ID and that
// question, is taken (RFC 5452); anything else is dropped and counted. Upstream queries leave the kernel
// through the host link and are masqueraded like a LAN host's.

import { createSocket, type Socket } from 'node:dgram';
import { createServer, connect, type Server, type Socket as TcpSocket } from 'node:net';
import type { Clock } from '../../clock.js';
import { formatIpv4, parseIpv4, type Prefix } from '../../core/addr.js';
import { readU16, readU32 } from '../../core/wire/bytes.js';
import { emitUdpDatagram } from '../../core/wire/udp.js';
import type { Logger } from '../../log.js';
import type { Part, PartContext } from '../../part.js';
import { DnsCache } from './cache.js';
import {
  CLASS_IN, errorAnswer, header, isResponse, isTruncated, localAnswer, parseQuery, question, RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_SERVFAIL, TYPE_A, TYPE_PTR,
  type DnsQuestion, type LocalRecord,
} from './message.js';
import { randomInt } from '../../entropy.js';

const PORT = 53;
const UPSTREAM_TIMEOUT_MS = 2000;
/** An upstream that timed out is tried last for this long. */
const PENALTY_MS = 30_000;
const LOCAL_TTL = 60;
const MAX_TCP_QUERY = 65535;
const BIND_RETRY_MS = 1000;
const TCP_IDLE_MS = 10_000;
/** Upstream sockets: how many, and how long one is used before a fresh port replaces it. */
const POOL_SIZE = 16;
const SOCKET_LIFE_MS = 60_000;

interface UpstreamSocket {
  sock: Socket;
  created: number;
  /** Queries awaiting an answer on this socket, by ID: the server asked and the question. */
  pending: Map<number, { address: string; q: DnsQuestion; finish: (r: Uint8Array | undefined) => void }>;
}

export interface DnsHost {
  name: string;
  address: number;
}

export interface DnsForwarderDeps {
  lan: Prefix;
  domain: string;
  hostname: string;
  /** Upstream servers: configured, or the WAN's as they are now. */
  upstream: () => number[];
  /** DHCP clients' and statics' names and addresses, as they are now. */
  hosts: () => DnsHost[];
}

export interface DnsForwarderStatus {
  address: string;
  upstream: string[];
  cacheEntries: number;
  counters: DnsForwarder['counters'];
  cache: DnsCache['counters'];
}

export class DnsForwarder implements Part<DnsForwarderStatus> {
  readonly name = 'dns';
  readonly counters = { queries: 0, tcpQueries: 0, local: 0, cached: 0, forwarded: 0, malformed: 0, badReplies: 0, upstreamTimeouts: 0, servfail: 0, noUpstream: 0 };
  private readonly cache: DnsCache;
  private udp: Socket | undefined;
  private tcp: Server | undefined;
  private clock!: Clock;
  private log!: Logger;
  private readonly penalised = new Map<number, number>();
  private stopped = false;
  private retry: { cancel(): void } | undefined;
  private unbind: (() => void) | undefined;
  private readonly pool: UpstreamSocket[] = [];

  constructor(cacheSize: number, private readonly deps: DnsForwarderDeps) {
    this.cache = new DnsCache(cacheSize);
  }

  start(ctx: PartContext): void {
    this.clock = ctx.clock;
    this.log = ctx.log;
    ctx.commands.register<DnsForwarderStatus>({
      name: 'dns',
      summary: 'the DNS forwarder: upstream servers, the cache, counters',
      run: () => this.status(),
      text: (s) => `DNS on ${s.address}:53, upstream ${s.upstream.join(' ') || 'none'}, ${s.cacheEntries} cached; ${s.counters.queries} queries: ${s.counters.cached} from the cache, ${s.counters.forwarded} forwarded, ${s.counters.local} local, ${s.counters.malformed} malformed, ${s.counters.badReplies} bad replies dropped`,
    });
    this.listen();
    // Dial-in callers are handed the gateway's address as their name server; their queries
    // reach the core, not the kernel, and come here. Only from inside links: never the WAN's.
    this.unbind = ctx.datapath.bindLocalUdp(PORT, (handle, datagram, role) => {
      if (role !== 'inside') return;
      const ihl = (datagram[0]! & 0x0f) * 4;
      const src = readU32(datagram, 12);
      const dst = readU32(datagram, 16);
      const srcPort = readU16(datagram, ihl);
      void this.resolve(datagram.subarray(ihl + 8), false).then((reply) => {
        if (reply !== undefined) ctx.datapath.sendDatagram(handle, emitUdpDatagram(dst, src, PORT, srcPort, reply));
      });
    });
  }

  stop(): void {
    this.stopped = true;
    this.unbind?.();
    for (const u of this.pool) u.sock.close();
    this.retry?.cancel();
    this.udp?.close();
    this.tcp?.close();
  }

  status(): DnsForwarderStatus {
    return { address: formatIpv4(this.deps.lan.address), upstream: this.deps.upstream().map(formatIpv4), cacheEntries: this.cache.size, counters: this.counters, cache: this.cache.counters };
  }

  /** Binds to the LAN address; until the LAN port has it (an interface plugged in later), tries again each second. */
  private listen(): void {
    const address = formatIpv4(this.deps.lan.address);
    const udp = createSocket('udp4');
    udp.on('message', (b, from) => void this.answerUdp(b, from.address, from.port));
    const failed = (e: Error): void => {
      udp.close();
      if (this.stopped) return;
      this.log.debug({ event: 'dns_bind_retry', address, error: e.message });
      this.retry = this.clock.after(BIND_RETRY_MS, () => this.listen());
    };
    udp.once('error', failed);
    udp.bind(PORT, address, () => {
      udp.off('error', failed);
      udp.on('error', (e) => this.log.warn({ event: 'dns_socket_error', error: e.message }));
      this.udp = udp;
      const tcp = createServer((s) => this.serveTcp(s));
      tcp.on('error', (e) => this.log.warn({ event: 'dns_tcp_error', error: e.message }));
      tcp.listen(PORT, address);
      this.tcp = tcp;
      this.log.info({ event: 'dns_forwarder', address, upstream: this.deps.upstream().map(formatIpv4) });
    });
  }

  private async answerUdp(b: Buffer, from: string, port: number): Promise<void> {
    const reply = await this.resolve(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), false);
    if (reply !== undefined) this.udp?.send(reply, port, from);
  }

  /** TCP (RFC 1035 §4.2.2, RFC 7766): two-byte lengths, several queries per connection. */
  private serveTcp(s: TcpSocket): void {
    let buf = Buffer.alloc(0);
    // An idle connection is closed (RFC 7766 §6.2.3), on our clock.
    let idle = this.clock.after(TCP_IDLE_MS, () => s.destroy());
    s.on('close', () => idle.cancel());
    s.on('error', () => s.destroy());
    s.on('data', (d: Buffer) => {
      idle.cancel();
      idle = this.clock.after(TCP_IDLE_MS, () => s.destroy());
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len > MAX_TCP_QUERY || len < 12) return void s.destroy();
        if (buf.length < 2 + len) break;
        const q = new Uint8Array(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        this.counters.tcpQueries++;
        void this.resolve(q, true).then((reply) => {
          if (reply === undefined || s.destroyed) return;
          const framed = Buffer.alloc(2 + reply.length);
          framed.writeUInt16BE(reply.length, 0);
          framed.set(reply, 2);
          s.write(framed);
        });
      }
    });
  }

  /** The answer to one query, or undefined (dropped: malformed). */
  private async resolve(b: Uint8Array, overTcp: boolean): Promise<Uint8Array | undefined> {
    this.counters.queries++;
    const q = parseQuery(b);
    if (typeof q === 'string') {
      this.counters.malformed++;
      this.log.debug({ event: 'dns_malformed_query', reason: q });
      return undefined;
    }
    const local = this.local(q.question);
    if (local !== undefined) {
      this.counters.local++;
      return localAnswer(b, q.questionEnd, local.records, local.rcode);
    }
    const now = this.clock.now();
    const cached = this.cache.get(q.question, q.header.id, now);
    if (cached !== undefined) {
      this.counters.cached++;
      return cached;
    }
    const upstreamReply = await this.forward(b.subarray(0, q.questionEnd), q.question, overTcp);
    if (upstreamReply === undefined) {
      this.counters.servfail++;
      return errorAnswer(b, q.questionEnd, RCODE_SERVFAIL);
    }
    this.counters.forwarded++;
    this.cache.put(q.question, upstreamReply, this.clock.now());
    const out = upstreamReply.slice();
    out[0] = q.header.id >>> 8;
    out[1] = q.header.id & 0xff;
    return out;
  }

  /** Names we answer for: the gateway's, the LAN hosts', their reverse lookups; the rest of the LAN domain does not exist. */
  private local(q: DnsQuestion): { records: LocalRecord[]; rcode: number } | undefined {
    if (q.class !== CLASS_IN) return undefined;
    const { domain, hostname, lan } = this.deps;
    const hosts = [{ name: hostname, address: lan.address }, ...this.deps.hosts()];
    if (q.name.endsWith('.in-addr.arpa')) {
      const parts = q.name.slice(0, -'.in-addr.arpa'.length).split('.');
      if (parts.length !== 4) return undefined;
      let address: number;
      try {
        address = parseIpv4(parts.reverse().join('.'));
      } catch {
        return undefined;
      }
      const host = hosts.find((h) => h.address === address);
      if (host === undefined) return undefined;
      return { records: q.type === TYPE_PTR ? [{ type: TYPE_PTR, ttl: LOCAL_TTL, data: `${host.name}.${domain}` }] : [], rcode: RCODE_NOERROR };
    }
    const inDomain = domain !== '' && q.name.endsWith(`.${domain}`);
    const short = inDomain ? q.name.slice(0, -domain.length - 1) : q.name;
    const host = short.includes('.') ? undefined : hosts.find((h) => h.name === short);
    if (host === undefined) return inDomain || q.name === domain ? { records: [], rcode: q.name === domain ? RCODE_NOERROR : RCODE_NXDOMAIN } : undefined;
    const a = host.address;
    return { records: q.type === TYPE_A ? [{ type: TYPE_A, ttl: LOCAL_TTL, data: Uint8Array.of(a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff) }] : [], rcode: RCODE_NOERROR };
  }

  /** Asks the upstream servers in turn (penalised ones last); the first good answer, or undefined. */
  private async forward(query: Uint8Array, q: DnsQuestion, overTcp: boolean): Promise<Uint8Array | undefined> {
    const now = this.clock.now();
    const servers = this.deps.upstream();
    if (servers.length === 0) {
      this.counters.noUpstream++;
      return undefined;
    }
    const order = [...servers].sort((a, b) => ((this.penalised.get(a) ?? 0) > now ? 1 : 0) - ((this.penalised.get(b) ?? 0) > now ? 1 : 0));
    for (const server of order) {
      let reply = await this.askUdp(server, query, q);
      // A truncated answer is asked again over TCP (RFC 7766), which the asker may need too.
      if (reply !== undefined && (overTcp || isTruncated(header(reply)!))) reply = (await this.askTcp(server, query, q)) ?? (overTcp ? undefined : reply);
      if (reply !== undefined) {
        this.penalised.delete(server);
        return reply;
      }
      this.counters.upstreamTimeouts++;
      this.penalised.set(server, this.clock.now() + PENALTY_MS);
      this.log.warn({ event: 'dns_upstream_silent', server: formatIpv4(server), name: q.name });
    }
    return undefined;
  }

  /**
   * Our copy of the query with a random ID, from one of a pool of sockets on random ports (RFC
   * 5452 §9.2), each replaced after a while: a fresh socket per query would be a fresh
   * masqueraded flow per query, and a busy LAN would use up its share of outside ports.
   * Only the matching answer is taken.
   */
  private askUdp(server: number, query: Uint8Array, q: DnsQuestion): Promise<Uint8Array | undefined> {
    return new Promise((resolve) => {
      const upstream = this.upstreamSocket();
      let id: number;
      do id = randomInt(0, 0x10000);
      while (upstream.pending.has(id));
      const out = query.slice();
      out[0] = id >>> 8;
      out[1] = id & 0xff;
      const address = formatIpv4(server);
      const finish = (r: Uint8Array | undefined): void => {
        if (upstream.pending.get(id) !== waiting) return;
        upstream.pending.delete(id);
        timer.cancel();
        resolve(r);
      };
      const waiting = { address, q, finish };
      upstream.pending.set(id, waiting);
      const timer = this.clock.after(UPSTREAM_TIMEOUT_MS, () => finish(undefined));
      upstream.sock.send(out, PORT, address, (e) => e && finish(undefined));
    });
  }

  /** A socket of the pool, picked at random; one past its time is replaced once idle. */
  private upstreamSocket(): UpstreamSocket {
    const now = this.clock.now();
    for (let i = 0; i < this.pool.length; i++) {
      const u = this.pool[i]!;
      if (now - u.created < SOCKET_LIFE_MS || u.pending.size > 0) continue;
      u.sock.close();
      this.pool.splice(i--, 1);
    }
    if (this.pool.length < POOL_SIZE) {
      const sock = createSocket('udp4');
      const u: UpstreamSocket = { sock, created: now, pending: new Map() };
      sock.on('error', () => undefined);
      sock.on('message', (b, from) => {
        const reply = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
        const h = header(reply);
        const p = h === undefined ? undefined : u.pending.get(h.id);
        if (p === undefined || from.address !== p.address || from.port !== PORT || !this.matches(reply, h!.id, p.q)) {
          this.counters.badReplies++;
          return; // keep waiting for the real one
        }
        p.finish(reply.slice());
      });
      this.pool.push(u);
      return u;
    }
    return this.pool[randomInt(0, this.pool.length)]!;
  }

  private askTcp(server: number, query: Uint8Array, q: DnsQuestion): Promise<Uint8Array | undefined> {
    return new Promise((resolve) => {
      const id = randomInt(0, 0x10000);
      const out = Buffer.alloc(2 + query.length);
      out.writeUInt16BE(query.length, 0);
      out.set(query, 2);
      out.writeUInt16BE(id, 2);
      const s = connect(PORT, formatIpv4(server));
      let buf = Buffer.alloc(0);
      let done = false;
      const finish = (r: Uint8Array | undefined): void => {
        if (done) return;
        done = true;
        timer.cancel();
        s.destroy();
        resolve(r);
      };
      const timer = this.clock.after(UPSTREAM_TIMEOUT_MS * 2, () => finish(undefined));
      s.on('connect', () => s.write(out));
      s.on('error', () => finish(undefined));
      s.on('close', () => finish(undefined));
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
        const reply = new Uint8Array(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        if (!this.matches(reply, id, q)) {
          this.counters.badReplies++;
          return finish(undefined);
        }
        finish(reply.slice());
      });
    });
  }

  /** An answer to our query: a response, our ID, the same question. */
  private matches(reply: Uint8Array, id: number, q: DnsQuestion): boolean {
    const h = header(reply);
    const rq = question(reply);
    return h !== undefined && isResponse(h) && h.id === id && rq !== undefined && rq.question.name === q.name && rq.question.type === q.type && rq.question.class === q.class;
  }
}
