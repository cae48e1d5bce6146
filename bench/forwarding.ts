// Forwarding benchmark: the same lab, the same run, the kernel (nftables masquerade,
// ip_forward=1), the floor (bench/floor.ts: ours' I/O in C with no per-frame work: what any
// forwarder in user space pays here) and ours (kernel forwarding off, the core on AF_PACKET, the
// defaults a user gets but for max_flows, raised to hold the 100 k flows of the memory figure),
// one after the other, in BENCH_RUNS rounds (3); each ratio reported is the median over the rounds. Veth offloads are
// off for both, so both forward real 1500-byte frames. For ours it also records where a
// wake-up's time goes (the packet addon's counters), how busy the gateway's process was, its CPU
// when idle, and what its resident memory is made of. Prints a table and writes
// bench/results/forwarding.json. Ours runs as the image runs it: the single bundle,
// dist/gateway.mjs (GATEWAY_MAIN overrides). Needs root; BENCH_SECONDS shortens runs for
// experiments.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MALLOC_TRIM_MS, STARTUP_CODE_RELEASE_MS } from '../firmware/heap.js';
import { compileFloor, startFloor, type FloorCounts } from './floor.js';
import { LAN_GATEWAY, labUnavailable, NetLab, WAN_HOST, type GatewayProcess } from '../test/lab/netlab.js';

const REPO = resolve(import.meta.dirname, '../..');
const NODE = join(REPO, 'node_modules/.bin/node');
const TOOLS = join(REPO, 'dist/bench/tools');
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const FLOWS = 100_000;
const CONN_PORT = 7000;
const PINGS = 200;

interface Figures {
  tcp_1_stream_mbit_s: number;
  tcp_4_streams_mbit_s: number;
  udp64_pps: number;
  udp64_loss_percent: number;
  udp1400_pps: number;
  udp1400_loss_percent: number;
  rtt_avg_us: number;
  rtt_median_us: number;
  rtt_p99_us: number;
  /** Pings every 10 ms while TCP with 4 streams runs (a test of its own): what a game or a call feels during a download. */
  rtt_under_load_avg_us: number;
  rtt_under_load_p99_us: number;
  /** That TCP test's throughput, with the pings. */
  tcp_4_streams_with_pings_mbit_s: number;
  conn_per_s: number;
}

/** Where ours spent a test's time: per wake-up and per frame, from the addon's counters (packet_ring.c). */
interface TimeSplit {
  frames: number;
  wakeups: number;
  frames_per_wakeup: number;
  /** Of the wake-ups (callbacks), the share that came after a moderation sleep (`[driver] coalesce_us`, under dense traffic). */
  coalesced_share: number;
  /** The kernel's timestamp of a wake-up's first frame to our callback: the wake-up, and any wait behind earlier work. */
  ring_wait_us_per_wakeup: number;
  /** Our callback to JavaScript's first call back into the addon. */
  crossing_us_per_wakeup: number;
  ring_ns_per_frame: number;
  core_ns_per_frame: number;
  send_ns_per_frame: number;
  /** Frames the kernel dropped because a receive ring was full (PACKET_STATISTICS). */
  ring_drops: number;
  /** The gateway process's CPU time over the test's wall time (1.0 = one core). */
  gateway_cpu: number;
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
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]): number => quantile([...xs].sort((a, b) => a - b), 0.5);

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** User + system CPU seconds of a process (all its threads). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** The counters of every link of ours, summed. */
function linkCounters(gw: GatewayProcess): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const link of gw.status()['links'] as Record<string, number | string>[]) {
    for (const [k, v] of Object.entries(link)) if (typeof v === 'number') sum[k] = (sum[k] ?? 0) + v;
  }
  return sum;
}

/** Runs `work` and reports how ours spent its time meanwhile. */
async function split<T>(gw: GatewayProcess, work: () => Promise<T>): Promise<{ result: T; split: TimeSplit }> {
  const before = linkCounters(gw);
  const cpu0 = cpuSeconds(gw.proc.pid!);
  const t0 = performance.now();
  const result = await work();
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(gw.proc.pid!) - cpu0;
  const after = linkCounters(gw);
  const d = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
  const frames = Math.max(1, d('received') - d('kernelDrops'));
  const wakeups = Math.max(1, d('wakeups'));
  return {
    result,
    split: {
      frames,
      wakeups,
      frames_per_wakeup: round(frames / wakeups, 2),
      coalesced_share: round(d('coalesced') / wakeups, 3),
      ring_wait_us_per_wakeup: round(d('ringWaitNs') / wakeups / 1000, 2),
      crossing_us_per_wakeup: round(d('crossingNs') / wakeups / 1000, 2),
      ring_ns_per_frame: Math.round(d('ringNs') / frames),
      core_ns_per_frame: Math.round(d('coreNs') / frames),
      send_ns_per_frame: Math.round(d('sendNs') / frames),
      ring_drops: d('kernelDrops'),
      gateway_cpu: round(cpu / wall, 3),
    },
  };
}

async function pingThrough(lab: NetLab): Promise<number[]> {
  return rtts((await lab.shAsync(lab.lan, `ping -c ${PINGS} -i 0.005 -n ${WAN_HOST}`)).stdout);
}

/** Pings every 10 ms from the second second of a test of SECONDS to its last but one. */
async function pingUnderLoad(lab: NetLab): Promise<number[]> {
  await new Promise((done) => setTimeout(done, 1000));
  return rtts((await lab.shAsync(lab.lan, `ping -c ${Math.max(1, (SECONDS - 2) * 100)} -i 0.01 -n ${WAN_HOST}`)).stdout);
}

/** Every figure; for ours (gw given) the time split of TCP with 4 streams, the 64-byte UDP flood, the pings and the new connections. */
async function measure(lab: NetLab, gw?: GatewayProcess): Promise<{ figures: Figures; tcp4Split?: TimeSplit; udp64Split?: TimeSplit; pingSplit?: TimeSplit; connSplit?: TimeSplit }> {
  /** A test's result, with ours's time split when it is ours that forwards. */
  const timed = async <T>(work: () => Promise<T>): Promise<{ result: T; split?: TimeSplit }> => (gw === undefined ? { result: await work() } : split(gw, work));
  const tcp1 = await iperfTcp(lab, 1);
  const { result: tcp4, split: tcp4Split } = await timed(() => iperfTcp(lab, 4));
  // Apart from the throughput figure, which the pings' turns (packet_ring.c) could move.
  const [tcp4WithPings, loaded] = await Promise.all([iperfTcp(lab, 4), pingUnderLoad(lab)]);
  const { result: u64, split: udp64Split } = await timed(() => iperfUdp(lab, 64));
  const u1400 = await iperfUdp(lab, 1400);
  await lab.shAsync(lab.lan, `ping -c 50 -i 0.005 -q -n ${WAN_HOST}`); // ARP, flows and caches warm
  const { result: through, split: pingSplit } = await timed(() => pingThrough(lab));
  if (through.length < PINGS / 2) throw new Error(`${through.length} of ${PINGS} pings came back through the gateway`);
  const { result: conn, split: connSplit } = await timed(() => lab.shAsync(lab.lan, `${NODE} ${TOOLS}/connrate.js client ${WAN_HOST} ${CONN_PORT} ${SECONDS} 32`, (SECONDS + 30) * 1000));
  const c = JSON.parse(conn.stdout) as { per_second: number };
  return {
    figures: {
      tcp_1_stream_mbit_s: round(tcp1),
      tcp_4_streams_mbit_s: round(tcp4),
      udp64_pps: Math.round(u64.pps),
      udp64_loss_percent: round(u64.loss),
      udp1400_pps: Math.round(u1400.pps),
      udp1400_loss_percent: round(u1400.loss),
      rtt_avg_us: round(mean(through)),
      rtt_median_us: round(quantile(through, 0.5)),
      rtt_p99_us: round(quantile(through, 0.99)),
      rtt_under_load_avg_us: round(mean(loaded)),
      rtt_under_load_p99_us: round(quantile(loaded, 0.99)),
      tcp_4_streams_with_pings_mbit_s: round(tcp4WithPings),
      conn_per_s: Math.round(c.per_second),
    },
    tcp4Split,
    udp64Split,
    pingSplit,
    connSplit,
  };
}

/** Resident memory of a process by kind of mapping (MB), from /proc/PID/smaps. */
function residentByKind(pid: number): Record<string, number> {
  const kb: Record<string, number> = {};
  let kind = 'anonymous';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head !== null) {
      const path = head[1]!;
      kind = path === '' ? 'anonymous' : path === '[heap]' ? 'malloc_heap' : path.startsWith('socket:') || path.includes('packet') ? 'packet_rings'
        : path.endsWith('/node') ? 'node_binary' : path.startsWith('/') ? 'other_files' : 'other';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null) kb[kind] = (kb[kind] ?? 0) + Number(rss[1]);
  }
  return Object.fromEntries(Object.entries(kb).map(([k, v]) => [k, round(v / 1024)]));
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) / 1024;
}

const FIGURES: readonly (readonly [string, keyof Figures])[] = [
  ['tcp 1 stream Mbit/s', 'tcp_1_stream_mbit_s'], ['tcp 4 streams Mbit/s', 'tcp_4_streams_mbit_s'],
  ['udp 64 B delivered pkt/s', 'udp64_pps'], ['udp 64 B loss %', 'udp64_loss_percent'],
  ['udp 1400 B delivered pkt/s', 'udp1400_pps'], ['udp 1400 B loss %', 'udp1400_loss_percent'],
  ['rtt average µs', 'rtt_avg_us'], ['rtt median µs', 'rtt_median_us'], ['rtt p99 µs', 'rtt_p99_us'],
  ['rtt under load average µs', 'rtt_under_load_avg_us'], ['rtt under load p99 µs', 'rtt_under_load_p99_us'],
  ['tcp 4 streams with pings Mbit/s', 'tcp_4_streams_with_pings_mbit_s'],
  ['new TCP connections/s', 'conn_per_s'],
];

async function main(): Promise<void> {
  const why = labUnavailable();
  if (why !== undefined) {
    console.log(`forwarding benchmark skipped: ${why}`);
    return;
  }
  process.env['GATEWAY_MAIN'] ??= join(REPO, 'dist/gateway.mjs');
  // The gateway on a copy of Node no other process here maps, as on a Pi, where it is the only
  // Node process: the benchmark, its tools and the gateway would otherwise share the binary's
  // pages, which then count in the gateway's resident size and cannot be handed back (heap.ts).
  const privateNode = mkdtempSync(join(tmpdir(), 'bf-node-'));
  copyFileSync(realpathSync(NODE), join(privateNode, 'node'));
  process.env['GATEWAY_NODE'] ??= join(privateNode, 'node');
  const floorBin = compileFloor(privateNode);
  const lab = new NetLab('bf');
  try {
    lab.background(lab.wan, 'iperf3 -s', 'iperf3.log');
    lab.background(lab.wan, `${NODE} ${TOOLS}/connrate.js server ${CONN_PORT}`, 'connrate.log');
    await new Promise((done) => setTimeout(done, 500));

    const config = `${lab.gatewayConfig('static').replace('level = "debug"', 'level = "info"')}\n[masq]\nmax_flows = 131072\n`;
    const rounds: { kernel: Figures; floor: Figures; floorCounts: FloorCounts; ours: Figures; tcp4Split: TimeSplit; udp64Split: TimeSplit; pingSplit: TimeSplit; connSplit: TimeSplit; idleCpu: number; idleCpuAfterStart: number }[] = [];
    let memory: { rss_mb: number; rss_mb_at_once: number; flows: number; sent: number; by_kind: Record<string, number> } | undefined;
    let hop: number[] = [];
    for (let r = 1; r <= RUNS; r++) {
      lab.startKernelGateway();
      console.log(`round ${r}/${RUNS}: the kernel (nftables masquerade) ...`);
      // The round trip to the gateway's own LAN address, which the kernel answers: one veth
      // hop, the floor under both gateways' figures.
      if (r === 1) hop = rtts((await lab.shAsync(lab.lan, `ping -c ${PINGS} -i 0.005 -n ${LAN_GATEWAY}`)).stdout);
      const kernel = (await measure(lab)).figures;
      lab.stopKernelGateway();
      console.log(`round ${r}/${RUNS}: the floor (ours' I/O in C, no per-frame work) ...`);
      const floorProcess = await startFloor(lab, floorBin, `floor-${r}.log`);
      const floor = (await measure(lab)).figures;
      const floorCounts = await floorProcess.stop();
      console.log(`round ${r}/${RUNS}: ours ...`);
      const gw = await lab.startGateway(config);
      const started = Date.now();
      // Idle: 10 s with no traffic at all, twice. First from 2 s after the start, which holds the
      // start's one-off work (the compilers, a major collection, the start's code handed back
      // at STARTUP_CODE_RELEASE_MS, the pages read back after it); then, once that is over, the
      // state an idle gateway stays in: the figure.
      const idleWindow = async (): Promise<number> => {
        const before = cpuSeconds(gw.proc.pid!);
        await new Promise((done) => setTimeout(done, 10_000));
        return (cpuSeconds(gw.proc.pid!) - before) / 10;
      };
      await new Promise((done) => setTimeout(done, 2000));
      const idleCpuAfterStart = await idleWindow();
      await new Promise((done) => setTimeout(done, Math.max(0, started + STARTUP_CODE_RELEASE_MS + 3000 - Date.now())));
      const idleCpu = await idleWindow();
      const ours = await measure(lab, gw);
      if (r === RUNS) {
        const sent = await lab.shAsync(lab.lan, `${NODE} ${TOOLS}/udpflows.js ${WAN_HOST} ${FLOWS} 2`, 120_000);
        // At once, and once settled: after the gateway's next malloc trim (firmware/heap.ts).
        const atOnce = round(rssMb(gw.proc.pid!));
        await new Promise((done) => setTimeout(done, MALLOC_TRIM_MS + 1000));
        memory = {
          rss_mb: round(rssMb(gw.proc.pid!)),
          rss_mb_at_once: atOnce,
          flows: gw.status().conntrack['flows']!,
          sent: (JSON.parse(sent.stdout || '{"sent":0}') as { sent: number }).sent,
          by_kind: residentByKind(gw.proc.pid!),
        };
      }
      await gw.stop();
      rounds.push({ kernel, floor, floorCounts, ours: ours.figures, tcp4Split: ours.tcp4Split!, udp64Split: ours.udp64Split!, pingSplit: ours.pingSplit!, connSplit: ours.connSplit!, idleCpu, idleCpuAfterStart });
    }

    // The median of the per-round ratios (higher is better for ours), and of the added round trips.
    type Side = 'kernel' | 'floor' | 'ours';
    const ratioOf = (a: Side, b: Side, key: keyof Figures): number => round(median(rounds.map((x) => x[a][key] / x[b][key])), 3);
    const ratio = (key: keyof Figures): number => ratioOf('ours', 'kernel', key);
    const floorRatio = (key: keyof Figures): number => ratioOf('floor', 'kernel', key);
    /** The throughput ratios of one side against the kernel, under `prefix` + the names forwarding.json has always used for ours. */
    const ratios = (prefix: string, side: Side): Record<string, number> => Object.fromEntries(([
      ['tcp_ratio_1_stream', 'tcp_1_stream_mbit_s'], ['tcp_ratio_4_streams', 'tcp_4_streams_mbit_s'], ['udp64_pps_ratio', 'udp64_pps'],
      ['udp1400_pps_ratio', 'udp1400_pps'], ['conn_rate_ratio', 'conn_per_s'],
    ] as const).map(([name, key]) => [prefix + name, ratioOf(side, 'kernel', key)]));
    const medianOf = (f: (x: (typeof rounds)[number]) => number): number => round(median(rounds.map(f)));
    const out = {
      date: new Date().toISOString(),
      machine: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
      node: process.version,
      seconds_per_test: SECONDS,
      rounds: RUNS,
      defaults: 'ours as the image runs it (the bundle, dist/gateway.mjs) with the defaults (TPACKET_V2 ring, ports 1024-65535) and max_flows = 131072, on a private copy of Node (as on a Pi, the only Node process: no pages of the binary shared with the benchmark and its tools)',
      ...ratios('', 'ours'),
      rtt_avg_us_ours_minus_kernel: medianOf((x) => x.ours.rtt_avg_us - x.kernel.rtt_avg_us),
      rtt_p99_us_ours_minus_kernel: medianOf((x) => x.ours.rtt_p99_us - x.kernel.rtt_p99_us),
      rtt_hop_to_gateway_avg_us: round(mean(hop)),
      rtt_under_load_avg_us_ours_minus_kernel: medianOf((x) => x.ours.rtt_under_load_avg_us - x.kernel.rtt_under_load_avg_us),
      rtt_under_load_p99_us_ours_minus_kernel: medianOf((x) => x.ours.rtt_under_load_p99_us - x.kernel.rtt_under_load_p99_us),
      floor: `bench/tools/floor-forwarder.c: the same rings, busy polling and moderation as ours, in C, with no per-frame work but a static 1:1 address swap (no flow table, no JavaScript); its figures against the kernel's are what any forwarder in user space pays on this machine`,
      ...ratios('floor_', 'floor'),
      rtt_avg_us_floor_minus_kernel: medianOf((x) => x.floor.rtt_avg_us - x.kernel.rtt_avg_us),
      rtt_p99_us_floor_minus_kernel: medianOf((x) => x.floor.rtt_p99_us - x.kernel.rtt_p99_us),
      rtt_under_load_avg_us_floor_minus_kernel: medianOf((x) => x.floor.rtt_under_load_avg_us - x.kernel.rtt_under_load_avg_us),
      rtt_avg_us_ours_minus_floor: medianOf((x) => x.ours.rtt_avg_us - x.floor.rtt_avg_us),
      idle_cpu_percent: round(median(rounds.map((x) => x.idleCpu * 100)), 2),
      idle_cpu_percent_after_start: round(median(rounds.map((x) => x.idleCpuAfterStart * 100)), 2),
      rss_mb_100k_flows: memory?.rss_mb,
      rss_mb_100k_flows_at_once: memory?.rss_mb_at_once,
      flows_at_rss: memory?.flows,
      udp_flow_datagrams_sent: memory?.sent,
      rss_mb_by_kind: memory?.by_kind,
      rounds_detail: rounds,
    };
    console.log('');
    console.log(`figure (median of ${RUNS})              kernel       floor        ours  ours/kernel  floor/kernel`);
    for (const [name, key] of FIGURES) {
      const [k, f, o] = (['kernel', 'floor', 'ours'] as const).map((side) => median(rounds.map((x) => x[side][key])).toFixed(1).padStart(10));
      console.log(`${name.padEnd(30)}${k}  ${f}  ${o}  ${ratio(key).toFixed(3).padStart(11)}  ${floorRatio(key).toFixed(3).padStart(12)}`);
    }
    console.log(`rtt: ours − kernel, average ${out.rtt_avg_us_ours_minus_kernel} µs, p99 ${out.rtt_p99_us_ours_minus_kernel} µs; under load ${out.rtt_under_load_avg_us_ours_minus_kernel} µs, p99 ${out.rtt_under_load_p99_us_ours_minus_kernel} µs`);
    console.log(`rtt: floor − kernel, average ${out.rtt_avg_us_floor_minus_kernel} µs, p99 ${out.rtt_p99_us_floor_minus_kernel} µs; under load ${out.rtt_under_load_avg_us_floor_minus_kernel} µs; ours − floor, average ${out.rtt_avg_us_ours_minus_floor} µs; the floor's counts per round ${JSON.stringify(rounds.map((x) => x.floorCounts))}`);
    type Round = (typeof rounds)[number];
    for (const [name, pick] of [['TCP 4 streams', (x: Round) => x.tcp4Split], ['64 B UDP flood', (x: Round) => x.udp64Split], ['pings', (x: Round) => x.pingSplit], ['new connections', (x: Round) => x.connSplit]] as const) {
      console.log(`where ours spent its time, ${name} (each round): ${rounds.map((x) => JSON.stringify(pick(x))).join(' ')}`);
    }
    console.log(`idle CPU ${out.idle_cpu_percent}% of a core (${out.idle_cpu_percent_after_start}% in the 10 s after the start); RSS with ${memory?.flows} flows: ${memory?.rss_mb} MB (${memory?.rss_mb_at_once} MB at once) ${JSON.stringify(memory?.by_kind)}`);
    const file = join(REPO, 'bench/results/forwarding.json');
    mkdirSync(join(REPO, 'bench/results'), { recursive: true });
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`wrote ${file}`);
  } finally {
    lab.destroy();
    rmSync(privateNode, { recursive: true, force: true });
  }
}

await main();
