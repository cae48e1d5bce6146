// Rewrites README's generated tables (the gateway.toml keys, the LEDs) from their sources:
// `node dist/build/readme-tables.js` after changing firmware/config/keys.ts or
// firmware/status/model.ts. test/unit/config.test.ts and leds.test.ts fail until it has run.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderKeyTable } from '../firmware/config/keys.js';
import { renderLedTable } from '../firmware/status/model.js';

const file = join(import.meta.dirname, '..', '..', 'README.md');
let text = readFileSync(file, 'utf8');
for (const table of [renderKeyTable(), renderLedTable()]) {
  const header = table.split('\n')[0]!;
  const start = text.indexOf(header);
  if (start < 0) throw new Error(`README has no table starting ${header}`);
  const lines = text.slice(start).split('\n');
  const end = start + lines.slice(0, lines.findIndex((l) => !l.startsWith('|'))).join('\n').length;
  text = text.slice(0, start) + table + text.slice(end);
}
writeFileSync(file, text);
