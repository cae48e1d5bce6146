// The gateway's own memory bounds. V8 sizes its heap from the machine's memory (about 2 GB of old
// space on a 64-bit host), so under a flood the heap grows long before it collects: 250 MB was
// seen under fuzzing, and a Pi Zero 2 W has 512 MB in all. With these limits the collector
// works earlier and `gateway run` stays under 128 MB resident (bench/fuzz.ts measures it); the
// flow table, rings and queues are bounded on their own.

import { getHeapStatistics } from 'node:v8';

/** Node flags for `gateway run`; image/gateway-init passes the same ones (its test checks). */
export const HEAP_FLAGS = ['--max-old-space-size=64', '--max-semi-space-size=4'] as const;

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
