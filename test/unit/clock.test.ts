// One clock: the manual clock's timers, and a grep that keeps every other clock and timer out of
// firmware/ and drivers/ (only firmware/clock.ts, and the logger's wall-clock stamps, may).

import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../firmware/clock.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const ALLOWED = new Set(['firmware/clock.ts', 'firmware/log.ts']);

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return name === 'node_modules' || name === 'build' ? [] : sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

test('nothing outside the clock module reads a clock or sets a timer', (t) => {
  const files = [...sources('firmware'), ...sources('drivers')];
  t.true(files.length > 30, 'the sources were found');
  const offenders = files
    .filter((f) => !ALLOWED.has(f))
    .flatMap((f) => readFileSync(join(ROOT, f), 'utf8').split('\n').map((line, i) => ({ f, i, line })))
    .filter(({ line }) => /\b(Date\.now|performance\.now|setTimeout|setInterval)\b/.test(line) && !/^\s*(\/\/|\*)/.test(line))
    .map(({ f, i, line }) => `${f}:${i + 1}: ${line.trim()}`);
  t.deepEqual(offenders, []);
});

test('the manual clock fires timers in due order, with now() at each due time', (t) => {
  const c = new ManualClock();
  const fired: string[] = [];
  c.after(300, () => fired.push(`b@${c.now()}`));
  c.after(100, () => fired.push(`a@${c.now()}`));
  const tick = c.every(250, () => fired.push(`tick@${c.now()}`));
  const never = c.after(200, () => fired.push('cancelled'));
  never.cancel();
  c.advance(600);
  t.deepEqual(fired, ['a@100', 'tick@250', 'b@300', 'tick@500']);
  t.is(c.now(), 600);
  tick.cancel();
  c.advance(1000);
  t.is(fired.length, 4);
  t.is(c.timers, 0);
});

test('a timer set by a timer fires in the same advance when due', (t) => {
  const c = new ManualClock();
  const fired: number[] = [];
  c.after(10, () => c.after(10, () => fired.push(c.now())));
  c.advance(25);
  t.deepEqual(fired, [20]);
});

test('run() lets async code between timers go on: sleep chains finish without real waiting', async (t) => {
  const c = new ManualClock();
  const done: number[] = [];
  void (async () => {
    for (let i = 0; i < 3; i++) {
      await c.sleep(1000);
      done.push(c.now());
    }
  })();
  await c.run(5000);
  t.deepEqual(done, [1000, 2000, 3000]);
  t.is(c.wall() - c.now(), Date.UTC(2026, 0, 1));
});
