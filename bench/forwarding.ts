// Forwarding benchmark: the same lab, the same run, two gateways one after the other: the kernel
// (nftables masquerade, ip_forward=1) and ours (kernel forwarding off, the core on AF_PACKET).
// Veth offloads are off for both, so both forward real 1500-byte frames. Prints a table and
// writes bench/results/forwarding.json. Needs root; BENCH_SECONDS shortens runs for experiments.

import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { LAN_GATEWAY, labUnavailable, NetLab, WAN_HOST } from '../test/lab/netlab.js';

const REPO = resolve(import.meta.dirname, '../..');
const NODE = join(REPO, 'node_modules/.bin/node');
const TOOLS = join(REPO, 'dist/bench/tools');
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const FLOWS = 100_000;
const CONN_PORT = 7000;

interface Figures {
  tcp_1_stream_mbit_s: number;
  tcp_4_streams_mbit_s: number;
  udp64_pps: number;
  udp64_loss_percent: number;
  udp1400_pps: number;
  udp1400_loss_percent: number;
  rtt_median_us: number;
  rtt_p99_us: number;
  rtt_added_median_us: number;
  rtt_added_p99_us: number;
  conn_per_s: number;
}

/** iperf3's JSON report; one retry, as the server may still be closing the previous test. */
async function iperf<T>(lab: NetLab, args: string): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const r = await lab.shAsync(lab.lan, `iperf3 -c ${WAN_HOST} -t ${SECONDS} ${args} -J`, (SECONDS + 30) * 1000);
    const j = JSON.parse(r.stdout || '{}') as { error?: string; end?: T };
    if (j.end !== undefined && j.error === undefined) return j.end;
    if (attempt === 2) throw new Error(`iperf3 ${args}: ${j.error ?? r.stderr}`);
    await new Promise((done) => setTimeout(done, 1000));
  }
}

async function iperfTcp(lab: NetLab, streams: number): Promise<number> {
  const end = await iperf<{ sum_received: { bits_per_second: number } }>(lab, `-P ${streams}`);
  return end.sum_received.bits_per_second / 1e6;
}

/** Datagrams/s delivered to the server, and loss, for a sender going as fast as it can. */
async function iperfUdp(lab: NetLab, size: number): Promise<{ pps: number; loss: number }> {
  const end = await iperf<{ sum: { packets: number; lost_packets: number; seconds: number; lost_percent: number } }>(lab, `-u -l ${size} -b 0`);
  const s = end.sum;
  return { pps: (s.packets - s.lost_packets) / s.seconds, loss: s.lost_percent };
}

function rtts(out: string): number[] {
  return [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000).sort((a, b) => a - b);
}

const quantile = (xs: number[], q: number): number => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;

async function measure(lab: NetLab): Promise<Figures> {
  const tcp1 = await iperfTcp(lab, 1);
  const tcp4 = await iperfTcp(lab, 4);
  const u64 = await iperfUdp(lab, 64);
  const u1400 = await iperfUdp(lab, 1400);
  // One veth hop (the LAN host to the gateway's kernel) against the path through the gateway:
  // the difference is what forwarding adds.
  const count = 300;
  const base = rtts((await lab.shAsync(lab.lan, `ping -c ${count} -i 0.005 -q -n ${LAN_GATEWAY} >/dev/null; ping -c ${count} -i 0.005 -n ${LAN_GATEWAY}`)).stdout);
  const through = rtts((await lab.shAsync(lab.lan, `ping -c ${count} -i 0.005 -n ${WAN_HOST}`)).stdout);
  const conn = await lab.shAsync(lab.lan, `${NODE} ${TOOLS}/connrate.js client ${WAN_HOST} ${CONN_PORT} ${SECONDS} 32`, (SECONDS + 30) * 1000);
  const c = JSON.parse(conn.stdout) as { per_second: number };
  return {
    tcp_1_stream_mbit_s: round(tcp1),
    tcp_4_streams_mbit_s: round(tcp4),
    udp64_pps: Math.round(u64.pps),
    udp64_loss_percent: round(u64.loss),
    udp1400_pps: Math.round(u1400.pps),
    udp1400_loss_percent: round(u1400.loss),
    rtt_median_us: round(quantile(through, 0.5)),
    rtt_p99_us: round(quantile(through, 0.99)),
    rtt_added_median_us: round(quantile(through, 0.5) - quantile(base, 0.5)),
    rtt_added_p99_us: round(quantile(through, 0.99) - quantile(base, 0.99)),
    conn_per_s: Math.round(c.per_second),
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) / 1024;
}

async function main(): Promise<void> {
  const why = labUnavailable();
  if (why !== undefined) {
    console.log(`forwarding benchmark skipped: ${why}`);
    return;
  }
  const lab = new NetLab('bf');
  try {
    lab.background(lab.wan, 'iperf3 -s', 'iperf3.log');
    lab.background(lab.wan, `${NODE} ${TOOLS}/connrate.js server ${CONN_PORT}`, 'connrate.log');
    await new Promise((done) => setTimeout(done, 500));

    lab.startKernelGateway();
    console.log('measuring the kernel (nftables masquerade) ...');
    const kernel = await measure(lab);
    lab.stopKernelGateway();

    const config = (ring: string): string =>
      `${lab.gatewayConfig('static').replace('level = "debug"', 'level = "info"')}\n[masq]\nmax_flows = 131072\n\n[driver]\npacket_ring = "${ring}"\n`;
    console.log('measuring ours with a TPACKET_V3 ring ...');
    const v3 = await lab.startGateway(config('v3'));
    const oursV3 = await measure(lab);
    await v3.stop();
    console.log('measuring ours with a TPACKET_V2 ring (the default) ...');
    const gw = await lab.startGateway(config('v2'));
    const ours = await measure(lab);
    const sent = await lab.shAsync(lab.lan, `${NODE} ${TOOLS}/udpflows.js ${WAN_HOST} ${FLOWS} 2`, 120_000);
    const flows = gw.status().conntrack['flows']!;
    const rss = rssMb(gw.proc.pid!);
    await gw.stop();

    const ratio = (a: number, b: number): number => Math.round((a / b) * 1000) / 1000;
    const out = {
      date: new Date().toISOString(),
      machine: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
      node: process.version,
      seconds_per_test: SECONDS,
      masq_ports_ours: 'default (1024-65535)',
      tcp_ratio_1_stream: ratio(ours.tcp_1_stream_mbit_s, kernel.tcp_1_stream_mbit_s),
      tcp_ratio_4_streams: ratio(ours.tcp_4_streams_mbit_s, kernel.tcp_4_streams_mbit_s),
      udp64_pps_ratio: ratio(ours.udp64_pps, kernel.udp64_pps),
      udp1400_pps_ratio: ratio(ours.udp1400_pps, kernel.udp1400_pps),
      rtt_added_median_us_ours: ours.rtt_added_median_us,
      rtt_added_median_us_kernel: kernel.rtt_added_median_us,
      rtt_added_p99_us_ours: ours.rtt_added_p99_us,
      rtt_added_p99_us_kernel: kernel.rtt_added_p99_us,
      conn_rate_ratio: ratio(ours.conn_per_s, kernel.conn_per_s),
      rss_mb_100k_flows: round(rss),
      flows_at_rss: flows,
      udp_flow_datagrams_sent: (JSON.parse(sent.stdout || '{"sent":0}') as { sent: number }).sent,
      kernel,
      ours,
      ours_tpacket_v3: oursV3,
    };
    console.log('');
    console.log('figure                         kernel   ours (v2)  ours/kernel   ours (v3)  v3/kernel');
    const cell = (x: number): string => x.toFixed(1).padStart(10);
    const rate = (x: number): string => x.toFixed(3).padStart(11);
    for (const [name, key] of [
      ['tcp 1 stream Mbit/s', 'tcp_1_stream_mbit_s'], ['tcp 4 streams Mbit/s', 'tcp_4_streams_mbit_s'],
      ['udp 64 B delivered pkt/s', 'udp64_pps'], ['udp 64 B loss %', 'udp64_loss_percent'],
      ['udp 1400 B delivered pkt/s', 'udp1400_pps'], ['udp 1400 B loss %', 'udp1400_loss_percent'],
      ['rtt added median µs', 'rtt_added_median_us'], ['rtt added p99 µs', 'rtt_added_p99_us'], ['new TCP connections/s', 'conn_per_s'],
    ] as const) {
      const k = kernel[key];
      console.log(`${name.padEnd(27)}${cell(k)}  ${cell(ours[key])}  ${rate(ours[key] / k)}  ${cell(oursV3[key])}  ${rate(oursV3[key] / k)}`);
    }
    console.log(`gateway RSS with ${flows} flows: ${round(rss)} MB`);
    const file = join(REPO, 'bench/results/forwarding.json');
    mkdirSync(join(REPO, 'bench/results'), { recursive: true });
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`wrote ${file}`);
  } finally {
    lab.destroy();
  }
}

await main();
