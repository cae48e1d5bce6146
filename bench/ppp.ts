// PPP benchmark: RFC 1662 framing throughput, encode and decode, in MB/s of information field,
// for 1500-byte datagrams of random bytes (about 1 in 128 needs an escape) with ACCM 0 as
// pppd negotiates, and with the default all-escaping ACCM; and goodput of a bulk TCP download
// through the gateway over the PPP lab's paced line (Debian's pppd as the ISP), as a share of
// the line rate (10 bits per byte on an 8N1 line), at 115200 bit/s and 4 Mbit/s.
// Writes bench/results/ppp.json.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_ACCM, HdlcDecoder, HdlcEncoder } from '../drivers/ppp/hdlc.js';
import { labUnavailable } from '../test/lab/netlab.js';
import { ISP_ADDRESS, PppLab } from '../test/lab/ppp-lab.js';

const REPO = resolve(import.meta.dirname, '../..');
const PACKET = 1500;
const PACKETS = 256;
const ROUNDS = 40;

function measure(accm: number): { encode: number; decode: number } {
  const e = new HdlcEncoder();
  e.setAccm(accm);
  e.options = { acfc: true, pfc: true };
  const packets = Array.from({ length: PACKETS }, () => {
    const p = new Uint8Array(PACKET);
    for (let i = 0; i < PACKET; i++) p[i] = (Math.random() * 256) | 0;
    return p;
  });
  const line = new Uint8Array(PACKETS * HdlcEncoder.maxLength(PACKET));
  let lineLen = 0;
  const payload = PACKET * PACKETS;
  // Warm up, then time the best of several rounds (the machine is shared).
  let bestEncode = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    let o = 0;
    for (const p of packets) o = e.encode(0x0021, p, 0, p.length, line, o);
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    lineLen = o;
    if (r > 3) bestEncode = Math.min(bestEncode, dt);
  }
  let frames = 0;
  const d = new HdlcDecoder(PACKET, () => frames++);
  d.setAccm(accm === DEFAULT_ACCM ? 0 : accm);
  let bestDecode = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    frames = 0;
    const t0 = process.hrtime.bigint();
    // A serial port delivers chunks of a few KB.
    for (let o = 0; o < lineLen; o += 4096) d.push(line, o, Math.min(lineLen, o + 4096));
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (frames !== PACKETS) throw new Error(`decoded ${frames} of ${PACKETS} frames`);
    if (r > 3) bestDecode = Math.min(bestDecode, dt);
  }
  return { encode: payload / bestEncode / 1e6, decode: payload / bestDecode / 1e6 };
}

/** Downloads `path` from the ISP's web server to the LAN host over a line of `bps`. */
interface Goodput {
  bytes: number;
  /** From the first byte of the response to the last (curl's time_total − time_starttransfer). */
  seconds: number;
  share: number;
  /** Including connection setup and the request. */
  share_whole_transfer: number;
  /** Bytes the modem carried towards the gateway in that time, as a share of the line: how busy the ISP kept it. */
  line_busy: number;
  /** Segments the LAN host received twice (its D-SACKs): line time the ISP's TCP spent on retransmissions. */
  duplicate_segments: number;
  /** Datagrams from the ISP that arrived VJ-compressed (RFC 1144) and whole. */
  vj_compressed_in: number;
  vj_uncompressed_in: number;
}

/**
 * `timestamps`: whether the LAN host uses TCP timestamps (RFC 7323; Linux's default). They change
 * in every segment, and RFC 1144 compressors (Linux's slhc) send any segment whose options
 * changed uncompressed, so VJ saves nothing on such a connection.
 */
async function goodput(bps: number, path: string, timestamps: boolean): Promise<Goodput> {
  const lab = await PppLab.create('pb', bps);
  try {
    const gw = await lab.net.startGateway(lab.config({ echoInterval: 30 }));
    try {
      await gw.waitFor('wan_address', 60_000);
      await lab.net.shAsync(lab.net.lan, `curl -sS -o /dev/null --retry 3 --retry-all-errors -m 20 http://${ISP_ADDRESS}/`);
      await lab.net.shAsync(lab.net.lan, `sysctl -qw net.ipv4.tcp_timestamps=${timestamps ? 1 : 0}; nstat -n`);
      const carried = lab.modem.counters.toGateway;
      const r = await lab.net.shAsync(lab.net.lan, `curl -sS -o /dev/null -m 120 -w '%{size_download} %{time_starttransfer} %{time_total}' http://${ISP_ADDRESS}/${path}`, 150_000);
      if (r.code !== 0) throw new Error(`download failed: ${r.stderr}`);
      const [bytes, start, total] = r.stdout.trim().split(' ').map(Number) as [number, number, number];
      const line = bps / 10;
      const seconds = total - start;
      const dsacks = await lab.net.shAsync(lab.net.lan, 'nstat -a TcpExtTCPDSACKOldSent TcpExtTCPDSACKOfoSent');
      const duplicates = [...dsacks.stdout.matchAll(/^TcpExt\w+\s+(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
      const ppp = (gw.status()['links'] as Record<string, number | string>[]).find((l) => l['name'] === 'ppp0') ?? {};
      return {
        bytes, seconds, share: bytes / seconds / line, share_whole_transfer: bytes / total / line, line_busy: (lab.modem.counters.toGateway - carried) / total / line, duplicate_segments: duplicates,
        vj_compressed_in: Number(ppp['vjCompressedIn'] ?? 0), vj_uncompressed_in: Number(ppp['vjUncompressedIn'] ?? 0),
      };
    } finally {
      await gw.stop();
    }
  } finally {
    lab.destroy();
  }
}

const accm0 = measure(0);
const accmAll = measure(DEFAULT_ACCM);
const round = (x: number): number => Math.round(x * 10) / 10;
const out = {
  date: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
  node: process.version,
  hdlc_encode_mb_s: round(accm0.encode),
  hdlc_decode_mb_s: round(accm0.decode),
  hdlc_encode_mb_s_accm_all: round(accmAll.encode),
  hdlc_decode_mb_s_accm_all: round(accmAll.decode),
  goodput_share_of_line: null as number | null,
  goodput_share_of_line_without_timestamps: null as number | null,
  goodput: {} as Record<string, Goodput>,
  goodput_note: 'bulk TCP download (curl) from the ISP guest to the LAN host through the gateway; share = payload bytes/s over line bytes/s (bit/s ÷ 10): TCP/IP headers, PPP framing and escapes all count against it. VJ compression (RFC 1144) is negotiated both ways with Debian pppd by default; keys ending in _no_timestamps: the LAN host with net.ipv4.tcp_timestamps=0, the case VJ can compress (Linux slhc sends segments whose TCP options changed uncompressed, and timestamps change in every segment)',
};
console.log('HDLC framing, 1500-byte datagrams, MB/s of information field');
console.log(`  ACCM 0:           encode ${out.hdlc_encode_mb_s}  decode ${out.hdlc_decode_mb_s}`);
console.log(`  ACCM ffffffff:    encode ${out.hdlc_encode_mb_s_accm_all}  decode ${out.hdlc_decode_mb_s_accm_all}`);
if (labUnavailable() === undefined) {
  // Long enough that the start (slow start, the request) and the end weigh little: the ISP's TCP
  // fires one tail-loss probe at the end of a transfer, as its queue in the lab is the modem's.
  for (const [bps, path] of [[115200, '384k.bin'], [4_000_000, 'big.bin']] as const) {
    for (const timestamps of [true, false]) {
      const g = await goodput(bps, path, timestamps);
      const r3 = (x: number): number => Math.round(x * 1000) / 1000;
      out.goodput[`${bps}${timestamps ? '' : '_no_timestamps'}`] = { ...g, seconds: r3(g.seconds), share: r3(g.share), share_whole_transfer: r3(g.share_whole_transfer), line_busy: r3(g.line_busy) };
      console.log(`PPP goodput at ${bps} bit/s${timestamps ? '' : ' without TCP timestamps'}: ${g.bytes} bytes in ${g.seconds.toFixed(2)} s, ${(100 * g.share).toFixed(1)}% of the line (${(100 * g.share_whole_transfer).toFixed(1)}% with setup; line busy ${(100 * g.line_busy).toFixed(1)}%; ${g.duplicate_segments} duplicate segments; VJ ${g.vj_compressed_in} compressed, ${g.vj_uncompressed_in} uncompressed in)`);
    }
  }
  const shares = (suffix: boolean): number => Math.min(...Object.entries(out.goodput).filter(([k]) => k.endsWith('_no_timestamps') === suffix).map(([, g]) => g.share));
  out.goodput_share_of_line = shares(false);
  out.goodput_share_of_line_without_timestamps = shares(true);
} else {
  console.log(`PPP goodput not measured: ${labUnavailable()}`);
}
mkdirSync(join(REPO, 'bench/results'), { recursive: true });
writeFileSync(join(REPO, 'bench/results/ppp.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log('wrote bench/results/ppp.json');
