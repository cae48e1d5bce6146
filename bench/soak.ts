// The soak (`make soak`; not part of `make test` or `make bench`): the PPP lab for 30 minutes
// (SOAK_MINUTES to change it) while a LAN host downloads from the ISP through the gateway in a
// loop, and every few seconds something goes wrong on the line, chosen at random: the carrier
// drops; the carrier drops and the next dial answers BUSY; the ISP freezes (LCP echoes go
// unanswered) and thaws later; a burst of noise arrives. After each, the soak waits until a
// page comes through again (the outage recovered) before the next. The gateway's resident
// memory is sampled every 10 s. Writes bench/results/soak.json; exits 1 on a crash or an
// outage that never recovered.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { labUnavailable } from '../test/lab/netlab.js';
import { ISP_ADDRESS, PppLab } from '../test/lab/ppp-lab.js';

const REPO = resolve(import.meta.dirname, '../..');
const MINUTES = Number(process.env['SOAK_MINUTES'] ?? 30);
const RECOVERY_LIMIT_S = 180;
const FAULTS = ['drop', 'busy', 'freeze', 'noise'] as const;
type Fault = (typeof FAULTS)[number];

const why = labUnavailable();
if (why !== undefined) {
  console.error(`soak: cannot run: ${why}`);
  process.exit(1);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const random = (lo: number, hi: number) => lo + Math.random() * (hi - lo);
const round1 = (x: number) => Math.round(x * 10) / 10;

function rssMb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : round1(Number(m[1]) / 1024);
  } catch {
    return undefined;
  }
}

const lab = await PppLab.create('sk', 1_000_000);
const started = Date.now();
const deadline = started + MINUTES * 60_000;
const faults: { at_s: number; kind: Fault; recovered_s: number | null }[] = [];
const rss: { at_s: number; mb: number }[] = [];
const downloads = { ok: 0, failed: 0, bytes: 0 };
let crashes = 0;
let stopping = false;
try {
  let gw = await lab.net.startGateway(lab.config({ echoInterval: 2, echoFailure: 3, holdoff: 1 }));
  await gw.waitFor('wan_address', 90_000);
  const since = () => round1((Date.now() - started) / 1000);

  // The download loop: 384 KiB from the ISP, over and over, whatever happens to the line.
  const downloading = (async () => {
    while (!stopping) {
      const r = await lab.net.shAsync(lab.net.lan, `curl -sS -o /dev/null -m 30 -w '%{size_download}' http://${ISP_ADDRESS}/384k.bin`, 40_000);
      if (r.code === 0 && Number(r.stdout) === 393216) {
        downloads.ok++;
        downloads.bytes += 393216;
      } else {
        downloads.failed++;
        await sleep(500);
      }
    }
  })();
  const sampling = setInterval(() => {
    const mb = gw.proc.pid === undefined ? undefined : rssMb(gw.proc.pid);
    if (mb !== undefined) rss.push({ at_s: since(), mb });
  }, 10_000);

  /** Seconds until a page comes through again, or null if it did not within the limit. */
  const recovery = async (from: number): Promise<number | null> => {
    while (Date.now() - from < RECOVERY_LIMIT_S * 1000) {
      const r = await lab.net.shAsync(lab.net.lan, `curl -sS -o /dev/null -m 5 http://${ISP_ADDRESS}/`, 10_000);
      if (r.code === 0) return round1((Date.now() - from) / 1000);
      await sleep(250);
    }
    return null;
  };

  while (Date.now() < deadline) {
    await sleep(random(3000, 10_000));
    if (gw.proc.exitCode !== null) {
      crashes++;
      gw = await lab.net.startGateway(lab.config({ echoInterval: 2, echoFailure: 3, holdoff: 1 }));
    }
    const kind = FAULTS[Math.floor(Math.random() * FAULTS.length)]!;
    const at = Date.now();
    if (kind === 'drop') await lab.modem.dropCarrier();
    else if (kind === 'busy') {
      lab.modem.dialResults.push('BUSY');
      await lab.modem.dropCarrier();
    } else if (kind === 'freeze') {
      await lab.guest.command('freeze');
      await sleep(random(3000, 12_000));
      await lab.guest.command('thaw');
    } else {
      lab.modem.inject(Uint8Array.from({ length: Math.floor(random(200, 2000)) }, () => Math.floor(Math.random() * 256)));
    }
    const recovered = await recovery(at);
    faults.push({ at_s: round1((at - started) / 1000), kind, recovered_s: recovered });
    console.log(`${since()} s: ${kind}, recovered ${recovered === null ? 'never' : `in ${recovered} s`}; downloads ${downloads.ok} ok, ${downloads.failed} failed; RSS ${rss.at(-1)?.mb ?? '-'} MB`);
  }
  stopping = true;
  clearInterval(sampling);
  await downloading;
  if (gw.proc.exitCode !== null) crashes++;
  await gw.stop();
} finally {
  lab.destroy();
}

const unrecovered = faults.filter((f) => f.recovered_s === null).length;
const times = faults.map((f) => f.recovered_s).filter((x): x is number => x !== null).sort((a, b) => a - b);
// Memory after the first two minutes (start-up and the first calls) against the end.
const settled = rss.filter((s) => s.at_s >= 120);
const result = {
  date: new Date().toISOString(),
  minutes: MINUTES,
  crashes,
  faults: faults.length,
  faults_by_kind: Object.fromEntries(FAULTS.map((k) => [k, faults.filter((f) => f.kind === k).length])),
  unrecovered,
  recovery_s: { median: times[Math.floor(times.length / 2)] ?? null, max: times.at(-1) ?? null },
  downloads,
  rss_mb: {
    first: rss[0]?.mb ?? null, after_2_min: settled[0]?.mb ?? null, last: rss.at(-1)?.mb ?? null,
    max: rss.length > 0 ? Math.max(...rss.map((s) => s.mb)) : null,
  },
  rss_samples: rss,
  fault_log: faults,
  note: 'PPP lab (Debian pppd in QEMU behind the modem emulator, 1 Mbit/s line); a 384 KiB download loops from the LAN host; a fault every 3-10 s after the last one recovered (a page fetched through the gateway again)',
};
mkdirSync(join(REPO, 'bench/results'), { recursive: true });
writeFileSync(join(REPO, 'bench/results/soak.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify({ ...result, rss_samples: undefined, fault_log: undefined }, null, 2));
if (crashes > 0 || unrecovered > 0) process.exitCode = 1;
