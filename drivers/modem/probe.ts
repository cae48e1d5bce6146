// `device = "auto"`: find the modem. Candidates come from /sys/class/tty (every tty backed by
// a device; serialport's list() needs udevadm, which the image does not have), USB modems first;
// each is asked `AT` and the first to answer OK wins.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../../firmware/clock.js';
import { command, FLUSH_LINE } from './chat.js';
import { Modem } from './modem.js';

const PREFERENCE = ['ttyUSB', 'ttyACM', 'ttyAMA', 'serial', 'ttyS'];

/** Serial devices present on this machine, most likely modems first. */
export function serialCandidates(sysClassTty = '/sys/class/tty', dev = '/dev'): string[] {
  let names: string[];
  try {
    names = readdirSync(sysClassTty);
  } catch {
    return [];
  }
  const found = names.filter((name) => {
    const dir = join(sysClassTty, name);
    if (!existsSync(join(dir, 'device'))) return false; // virtual terminals, ptys, console
    // An 8250 slot without a UART behind it reports type 0 (PORT_UNKNOWN).
    if (name.startsWith('ttyS') && readSmall(join(dir, 'type')) === '0') return false;
    return true;
  });
  const rank = (name: string): number => {
    const i = PREFERENCE.findIndex((p) => name.startsWith(p));
    return i < 0 ? PREFERENCE.length : i;
  };
  return found.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b, 'en', { numeric: true })).map((name) => join(dev, name));
}

export interface ProbeAttempt {
  device: string;
  result: string;
}

/** Asks each candidate `AT`; the first that answers OK is the modem. */
export async function probeModem(candidates: readonly string[], baud: number, clock: Clock, timeoutMs = 1500): Promise<{ device: string | undefined; attempts: ProbeAttempt[] }> {
  const attempts: ProbeAttempt[] = [];
  for (const device of candidates) {
    let modem: Modem | undefined;
    try {
      modem = await Modem.open({ device, baud, flowControl: 'none', clock });
      // A stray character from before (a half-typed line) is flushed by the first CR.
      const r = await modem.run([FLUSH_LINE, command('AT', timeoutMs)], []);
      attempts.push({ device, result: r.kind === 'ok' ? 'OK' : r.kind });
      if (r.kind === 'ok') return { device, attempts };
    } catch (e) {
      attempts.push({ device, result: (e as Error).message });
    } finally {
      await modem?.close();
    }
  }
  return { device: undefined, attempts };
}

function readSmall(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}
