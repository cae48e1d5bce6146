// The gateway bounds its own heap (firmware/heap.ts): `gateway run` started by plain `node`
// re-executes itself under HEAP_FLAGS in the same process, and the image's init passes them.
// It also hands malloc's freed pages back to the kernel every few seconds, and once, after the
// start, the pages of Node's binary it read.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ManualClock } from '../../firmware/clock.js';
import { HEAP_FLAGS, keepMallocTrimmed, MALLOC_TRIM_MS, releaseStartupCode, STARTUP_CODE_RELEASE_MS } from '../../firmware/heap.js';

const REPO = resolve(import.meta.dirname, '../../..');
const NODE = join(REPO, 'node_modules/.bin/node');

test('started without limits, the process replaces itself with one under HEAP_FLAGS, keeping its PID and arguments', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'heap-'));
  try {
    const script = join(dir, 'probe.mjs');
    writeFileSync(script, `import { getHeapStatistics } from 'node:v8';
import { ensureHeapLimits } from ${JSON.stringify(join(REPO, 'dist/firmware/heap.js'))};
process.stdout.write('pid ' + process.pid + '\\n');
ensureHeapLimits();
process.stdout.write(JSON.stringify({ pid: process.pid, limitMb: getHeapStatistics().heap_size_limit / 1048576, execArgv: process.execArgv, args: process.argv.slice(2) }) + '\\n');
`);
    const r = spawnSync(NODE, [script, 'run', '--config', 'x.toml'], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const before = Number(lines.filter((l) => l.startsWith('pid '))[0]!.slice(4));
    const after = JSON.parse(lines.at(-1)!) as { pid: number; limitMb: number; execArgv: string[]; args: string[] };
    t.is(lines.filter((l) => l.startsWith('pid ')).length, 2, 'ran twice: before and after the exec');
    t.is(after.pid, before, 'the same process');
    t.true(after.limitMb <= 128, `heap limit ${after.limitMb} MB`);
    t.deepEqual(after.execArgv, [...HEAP_FLAGS]);
    t.deepEqual(after.args, ['run', '--config', 'x.toml']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the image\'s init starts the gateway under the same flags (no second start on a slow card)', (t) => {
  const init = readFileSync(join(REPO, 'image/gateway-init'), 'utf8');
  t.true(init.includes(`/usr/bin/node ${HEAP_FLAGS.join(' ')} /opt/gateway/gateway.mjs run`));
});

test('trimMalloc hands back to the kernel what malloc holds freed (memory_trim.c, on a pool thread)', (t) => {
  // 80 MB of 4000-byte buffers (below malloc's mmap threshold, so in its heap), freed and
  // collected: glibc keeps the pages, resident, until trimmed.
  const script = `
const { readFileSync } = require('node:fs');
const addon = require(${JSON.stringify(join(REPO, 'drivers/nic/addon/build/Release/packet_ring.node'))});
const anonKb = () => Number(/RssAnon:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
let bufs = Array.from({ length: 20000 }, () => Buffer.allocUnsafeSlow(4000));
bufs = null; gc();
setTimeout(() => {
  const freed = anonKb();
  const started = addon.trimMalloc();
  setTimeout(() => console.log(JSON.stringify({ freed, started, trimmed: anonKb() })), 1000);
}, 300);`;
  const r = spawnSync(NODE, ['--expose-gc', '-e', script], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const { freed, started, trimmed } = JSON.parse(r.stdout) as { freed: number; started: boolean; trimmed: number };
  t.true(started);
  t.true(freed > 60_000, `${freed} kB anonymous memory resident after the free`);
  t.true(trimmed < freed - 50_000, `${freed} kB before the trim, ${trimmed} kB after`);
});

test('keepMallocTrimmed asks for a trim every MALLOC_TRIM_MS', (t) => {
  const clock = new ManualClock();
  let trims = 0;
  const timer = keepMallocTrimmed(clock, () => trims++);
  clock.advance(MALLOC_TRIM_MS - 1);
  t.is(trims, 0);
  clock.advance(1);
  t.is(trims, 1);
  clock.advance(3 * MALLOC_TRIM_MS);
  t.is(trims, 4);
  timer.cancel();
  clock.advance(MALLOC_TRIM_MS);
  t.is(trims, 4);
});

test('pageOutExecutable hands back the pages of Node\'s binary the process read (memory_trim.c, on a pool thread)', (t) => {
  // A copy of Node that no other process maps: the kernel reclaims only pages mapped once.
  const dir = mkdtempSync(join(tmpdir(), 'heap-'));
  try {
    const node = join(dir, 'node');
    copyFileSync(realpathSync(NODE), node);
    const script = `
const { readFileSync, realpathSync } = require('node:fs');
const addon = require(${JSON.stringify(join(REPO, 'drivers/nic/addon/build/Release/packet_ring.node'))});
const exe = realpathSync('/proc/self/exe');
const binaryKb = () => {
  let kb = 0, mine = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \\S+ \\S+ \\S+ \\S+\\s*(.*)$/.exec(line);
    if (head) mine = head[1] === exe;
    else if (mine && line.startsWith('Rss:')) kb += Number(/(\\d+) kB/.exec(line)[1]);
  }
  return kb;
};
JSON.stringify(Array.from({ length: 10000 }, (_, i) => ({ i, s: String(i).repeat(3) }))); // some work
setTimeout(() => {
  const before = binaryKb();
  const started = addon.pageOutExecutable();
  setTimeout(() => console.log(JSON.stringify({ before, started, after: binaryKb() })), 1000);
}, 300);`;
    const r = spawnSync(node, ['-e', script], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    const { before, started, after } = JSON.parse(r.stdout) as { before: number; started: boolean; after: number };
    t.true(started);
    t.true(before > 20_000, `${before} kB of Node's binary resident`);
    t.true(after < before - 10_000, `${before} kB before, ${after} kB after`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('releaseStartupCode asks once, STARTUP_CODE_RELEASE_MS after the start', (t) => {
  const clock = new ManualClock();
  let asked = 0;
  releaseStartupCode(clock, () => asked++);
  clock.advance(STARTUP_CODE_RELEASE_MS - 1);
  t.is(asked, 0);
  clock.advance(1);
  t.is(asked, 1);
  clock.advance(10 * STARTUP_CODE_RELEASE_MS);
  t.is(asked, 1);
});
