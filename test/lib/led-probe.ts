// Run by test/unit/leds.test.ts inside a private mount namespace in which a temporary tree is
// mounted over /sys/class (onoff's GPIO root is fixed): opens the LEDs of a [leds] config given
// as JSON, turns each on and off, and prints what the tree's files said at each step.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLeds, type LedPins } from '../../drivers/gpio/leds.js';
import { systemClock } from '../../firmware/clock.js';

const [root, pinsJson] = process.argv.slice(2) as [string, string];
const pins = JSON.parse(pinsJson) as LedPins;
const read = (path: string): string => {
  try {
    return readFileSync(join(root, path), 'utf8').trim();
  } catch {
    return '-';
  }
};
const opened = await openLeds(pins, root, systemClock, () => {});
const out: Record<string, unknown> = { problems: opened.problems, roles: {} };
for (const [role, leds] of opened.leds) {
  const seen: string[] = [];
  for (const on of [true, false, true]) {
    for (const led of leds) led.set(on);
    seen.push(leds.map((l) => `${l.name}=${l.name.startsWith('on-board') ? read(`class/leds/${l.name.slice(9)}/brightness`) : read(`class/gpio/gpio${512 + Number(/BCM (\d+)/.exec(l.name)![1])}/value`)}`).join(','));
  }
  (out['roles'] as Record<string, string[]>)[role] = seen;
}
const gpio = (n: number, f: string): string => read(`class/gpio/gpio${512 + n}/${f}`);
out['pins'] = Object.fromEntries([17, 27, 22].map((n) => [n, { direction: gpio(n, 'direction'), activeLow: gpio(n, 'active_low') }]));
out['triggers'] = { ACT: read('class/leds/ACT/trigger'), PWR: read('class/leds/PWR/trigger') };
for (const leds of opened.leds.values()) for (const led of leds) led.close();
out['unexported'] = read('class/gpio/unexport');
out['afterClose'] = { ACT: read('class/leds/ACT/trigger') };
process.stdout.write(JSON.stringify(out));
