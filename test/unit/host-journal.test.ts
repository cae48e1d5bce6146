// The host-changes journal (firmware/host.ts) read at start: a journal left by a crashed run is
// taken over; a damaged one is reported and ignored, never a reason not to start.

import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { HostChanges } from '../../firmware/host.js';
import type { Logger } from '../../firmware/log.js';

function logged(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: pino({ base: undefined }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) }), lines };
}

test('a crashed run\'s journal is taken over and named in the log; a damaged one is reported', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'journal-'));
  try {
    const file = join(dir, 'host-changes.json');
    writeFileSync(file, JSON.stringify([{ kind: 'sysctl', key: 'net.ipv4.ip_forward', value: '1' }, { kind: 'deleteAddress', dev: 'lan0', cidr: '192.168.0.1/24' }]));
    const a = logged();
    new HostChanges(a.log, file);
    const adopted = a.lines.find((l) => l['event'] === 'host_changes_adopted');
    t.deepEqual(adopted?.['steps'], ['sysctl net.ipv4.ip_forward=1', 'address 192.168.0.1/24 off lan0']);
    for (const junk of ['{"kind":', '{"not":"a list"}']) {
      writeFileSync(file, junk);
      const b = logged();
      t.notThrows(() => new HostChanges(b.log, file));
      t.truthy(b.lines.find((l) => l['event'] === 'host_journal_damaged'), junk);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
