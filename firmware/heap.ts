// The gateway's own memory bounds. V8 sizes its heap from the machine's memory (about 2 GB of old
// space on a 64-bit host), so under a flood the heap grows long before it collects: 250 MB was
// seen under fuzzing, and a Pi Zero 2 W has 512 MB in all. With these limits the collector
// works earlier and `gateway run` stays under 128 MB resident (bench/fuzz.ts measures it); the
// flow table, rings and queues are bounded on their own.
//
// What else the resident size is made of was measured (bench/forwarding.ts, by mapping from
// smaps): a young generation of 1 MB semi-spaces instead of 4 saves about 6 MB and costs
// nothing measurable in the core's throughput (the forwarding path allocates nothing per
// packet); and glibc keeps what V8's compilers and collector free in its arenas (8 MB held
// after 100 k new flows): trimming them every few seconds hands it back.

import { getHeapStatistics } from 'node:v8';
import type { Clock, Timer } from './clock.js';
import { packetRingAddon } from '../drivers/nic/packet-link.js';

/** Node flags for `gateway run`; image/gateway-init passes the same ones (its test checks). */
export const HEAP_FLAGS = ['--max-old-space-size=64', '--max-semi-space-size=1'] as const;

/**
 * Makes sure this process runs under HEAP_FLAGS: when Node was started without them, replaces
 * the process with itself under them (execve: same PID, same descriptors, nothing opened yet).
 * Returns only when the limits are in place (or execve is unavailable: then as Node sized it).
 */
export function ensureHeapLimits(): void {
  if (HEAP_FLAGS.every((f) => process.execArgv.includes(f))) return;
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
  if (execve === undefined || process.argv[1] === undefined) return;
  const limit = HEAP_FLAGS.find((f) => f.startsWith('--max-old-space-size='))!.split('=')[1]!;
  if (getHeapStatistics().heap_size_limit <= Number(limit) * 2 * 1048576) return; // smaller already (NODE_OPTIONS)
  execve.call(process, process.execPath, [process.execPath, ...HEAP_FLAGS, ...process.execArgv, process.argv[1], ...process.argv.slice(2)], process.env);
}

/** How often malloc's free pages go back to the kernel (on a pool thread: forwarding does not wait). */
export const MALLOC_TRIM_MS = 5000;

/**
 * When the pages of Node's binary that only the start ran are handed back: after the start,
 * the first DHCP exchange and the console's first prompt.
 */
export const STARTUP_CODE_RELEASE_MS = 10_000;

/** When Node's compile cache is written (before the start's code is handed back, which it would read again). */
export const COMPILE_CACHE_FLUSH_MS = 5_000;

/**
 * Once, STARTUP_CODE_RELEASE_MS after the start, hands the pages of Node's own binary this
 * process has read back to the kernel (memory_trim.c): about 40 MB, most of which ran once.
 * What runs again (forwarding, the collector) is read back once and stays.
 */
export function releaseStartupCode(clock: Clock, pageOut: () => unknown = () => packetRingAddon().pageOutExecutable?.()): Timer {
  return clock.after(STARTUP_CODE_RELEASE_MS, () => void pageOut());
}

/** Trims malloc's free pages every MALLOC_TRIM_MS, for as long as the process runs. */
export function keepMallocTrimmed(clock: Clock, trim: () => unknown = () => packetRingAddon().trimMalloc?.()): Timer {
  return clock.every(MALLOC_TRIM_MS, () => void trim());
}

export interface MemoryStatus { rssMb: number; heapUsedMb: number; heapTotalMb: number; externalMb: number }

/** Where the process's memory is, in MB, for `status --json` and the benchmark's breakdown. */
export function memoryStatus(): MemoryStatus {
  const mb = (bytes: number): number => Math.round(bytes / 104857.6) / 10;
  const m = process.memoryUsage();
  return { rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), externalMb: mb(m.external) };
}
