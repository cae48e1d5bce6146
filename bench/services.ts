// LAN services benchmark: DNS queries per second answered by the gateway's forwarder from its
// cache and forwarded (a new name each time), side by side with dnsmasq as a caching forwarder
// on the same machine and the same path (in the gateway's namespace, on a second LAN address,
// forwarding through the same core to the same upstream), as ratios. The upstream is dnsmasq
// in the WAN namespace, authoritative for lab.test. Defaults as a user gets them ([dns] with
// only its upstream set). Three runs; the median ratio of each figure. Writes
// bench/results/services.json.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { labUnavailable, NetLab, NODE, WAN_HOST } from '../test/lab/netlab.js';

const REPO = resolve(import.meta.dirname, '../..');
const TOOLS = join(REPO, 'dist/bench/tools');
const SECONDS = 5;
const RUNS = 3;
const REFERENCE = '192.168.0.2';

interface Rate {
  answered: number;
  sent: number;
  seconds: number;
}

async function load(lab: NetLab, server: string, mode: 'same' | 'unique'): Promise<number> {
  const r = await lab.shAsync(lab.lan, `${NODE} ${TOOLS}/dnsload.js ${server} 53 ${mode} ${SECONDS} 32`, 60_000);
  const rate = JSON.parse(r.stdout) as Rate;
  return rate.answered / rate.seconds;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number): number => Math.round(x * 1000) / 1000;

async function main(): Promise<void> {
  const why = labUnavailable();
  if (why !== undefined) {
    console.log(`services benchmark not run: ${why}`);
    return;
  }
  const lab = new NetLab('sv');
  try {
    lab.background(lab.wan, ['dnsmasq', '--keep-in-foreground', '--no-daemon', '--no-resolv', '--no-hosts', '--bind-interfaces', '--interface=eth0', '--except-interface=lo', '--pid-file=',
      '--auth-server=ns.lab.test,eth0', '--auth-zone=lab.test', `--host-record=www.lab.test,${WAN_HOST}`, '--auth-ttl=300', '--dns-forward-max=1000'].join(' '), 'upstream.log');
    // The lab's configs log at debug; a user's gateway logs at info.
    const gw = await lab.startGateway(lab.gatewayConfig('static', `[dns]\nupstream = ["${WAN_HOST}"]`).replace('level = "debug"', 'level = "info"'));
    await gw.waitFor('dns_forwarder', 10_000);
    // The reference: dnsmasq as a caching forwarder (its default cache of 150 names), on a second
    // LAN address. One change from its defaults: --query-port=0, one upstream socket instead of
    // a random port per query, since every query of the gateway's own kernel is masqueraded and
    // a port per query would use up the host's share of outside ports (ours keeps a pool of 16).
    lab.sh(lab.gw, `ip addr add ${REFERENCE}/32 dev lan0`);
    lab.background(lab.gw, ['dnsmasq', '--keep-in-foreground', '--no-daemon', '--no-resolv', '--no-hosts', '--bind-interfaces', `--listen-address=${REFERENCE}`, '--pid-file=',
      `--server=${WAN_HOST}`, '--dns-forward-max=1000', '--query-port=0'].join(' '), 'reference.log');
    await new Promise((r) => setTimeout(r, 500));
    const runs: Record<string, { ours: number; dnsmasq: number; ratio: number }[]> = { cached: [], forwarded: [] };
    for (let i = 0; i < RUNS; i++) {
      for (const [figure, mode] of [['cached', 'same'], ['forwarded', 'unique']] as const) {
        const ours = await load(lab, '192.168.0.1', mode);
        const dnsmasq = await load(lab, REFERENCE, mode);
        runs[figure]!.push({ ours: Math.round(ours), dnsmasq: Math.round(dnsmasq), ratio: round(ours / dnsmasq) });
        console.log(`run ${i + 1} ${figure}: ours ${Math.round(ours)} q/s, dnsmasq ${Math.round(dnsmasq)} q/s, ratio ${(ours / dnsmasq).toFixed(2)}`);
      }
    }
    await gw.stop();
    const out = {
      date: new Date().toISOString(),
      machine: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
      node: process.version,
      note: `DNS queries/s from the LAN namespace, 32 in flight for ${SECONDS} s: "cached" asks one name again and again, "forwarded" a new name each time (upstream: dnsmasq in the WAN namespace). The reference is dnsmasq as a caching forwarder in the gateway's namespace, through the same core, with --query-port=0 (one upstream socket: a random port per query would use up the masquerade's share of ports for the host; ours keeps a pool of 16 sockets). Ratios are ours/dnsmasq; median of ${RUNS} runs.`,
      cached_ratio_median: median(runs['cached']!.map((r) => r.ratio)),
      forwarded_ratio_median: median(runs['forwarded']!.map((r) => r.ratio)),
      runs,
    };
    mkdirSync(join(REPO, 'bench/results'), { recursive: true });
    writeFileSync(join(REPO, 'bench/results/services.json'), `${JSON.stringify(out, null, 2)}\n`);
    console.log(`cached: ${out.cached_ratio_median}× dnsmasq, forwarded: ${out.forwarded_ratio_median}× (medians); wrote bench/results/services.json`);
  } finally {
    lab.destroy();
  }
}

await main();
