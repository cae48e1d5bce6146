// A serial line for modem tests: serialport's own mock driver, with DTR changes recorded and
// DCD set by the test, and what the gateway writes handed to a callback (a scripted modem).

import { createRequire } from 'node:module';
// The package's ES module entry ships no types; its CommonJS one does.
import type { MockBindingInterface, MockPortBinding } from '@serialport/binding-mock' with { 'resolution-mode': 'require' };
import type { SerialBinding } from '../../drivers/modem/modem.js';
import type { ManualClock } from '../../firmware/clock.js';

const { MockBinding } = createRequire(import.meta.url)('@serialport/binding-mock') as { MockBinding: MockBindingInterface };

export interface Line {
  binding: SerialBinding;
  dcd: boolean;
  dtr: { dtr: boolean; at: number }[];
  port?: MockPortBinding;
  /** Called with what the gateway writes, instead of recording it. */
  written?: (b: Buffer) => void;
  /** Told when the gateway drops DTR (a modem set to &D2 hangs up). */
  dtrDropped?: () => void;
}

export function line(clock: ManualClock, path: string, controlLines: boolean, written?: (b: Buffer) => void): Line {
  MockBinding.createPort(path, { record: true });
  const l: Line = { dcd: true, dtr: [], binding: undefined as unknown as SerialBinding, written };
  l.binding = {
    list: () => MockBinding.list(),
    async open(options) {
      const port = await MockBinding.open(options);
      l.port = port;
      if (l.written !== undefined) {
        const written = l.written;
        port.write = async (b) => written(Buffer.from(b));
      }
      port.set = async (o) => {
        if (!controlLines) throw new Error('Inappropriate ioctl for device');
        if (o.dtr !== undefined) l.dtr.push({ dtr: o.dtr, at: clock.now() });
        if (o.dtr === false) l.dtrDropped?.();
      };
      port.get = async () => {
        if (!controlLines) throw new Error('Inappropriate ioctl for device');
        return { cts: true, dsr: true, dcd: l.dcd };
      };
      return port;
    },
  };
  return l;
}

