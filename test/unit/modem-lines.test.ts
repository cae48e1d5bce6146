// The modem's use of modem-control lines, which a pty (the PPP lab's modem) does not have: a
// USB modem or a UART wired with DTR and DCD. The line here is serialport's own mock driver,
// with DTR changes recorded and DCD set by the test.

import { createRequire } from 'node:module';
import test from 'ava';
// The package's ES module entry ships no types; its CommonJS one does.
import type { MockBindingInterface, MockPortBinding } from '@serialport/binding-mock' with { 'resolution-mode': 'require' };
import { Modem, type SerialBinding } from '../../drivers/modem/modem.js';

const { MockBinding } = createRequire(import.meta.url)('@serialport/binding-mock') as { MockBinding: MockBindingInterface };

interface Line {
  binding: SerialBinding;
  dcd: boolean;
  dtr: { dtr: boolean; at: number }[];
  port?: MockPortBinding;
}

function line(path: string, controlLines: boolean): Line {
  MockBinding.createPort(path, { record: true });
  const l: Line = { dcd: true, dtr: [], binding: undefined as unknown as SerialBinding };
  l.binding = {
    list: () => MockBinding.list(),
    async open(options) {
      const port = await MockBinding.open(options);
      l.port = port;
      port.set = async (o) => {
        if (!controlLines) throw new Error('Inappropriate ioctl for device');
        if (o.dtr !== undefined) l.dtr.push({ dtr: o.dtr, at: performance.now() });
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

test('with modem-control lines: DCD is read, and hang-up drops DTR for a moment instead of +++ and ATH', async (t) => {
  const l = line('/dev/ttyUSB-mock0', true);
  const modem = await Modem.open({ device: '/dev/ttyUSB-mock0', baud: 115200, flowControl: 'rtscts', binding: l.binding });
  try {
    t.true(modem.hasControlLines);
    t.is(await modem.carrier(), true);
    l.dcd = false;
    t.is(await modem.carrier(), false);
    modem.write(new TextEncoder().encode('~PPP bytes~'));
    t.is(await modem.hangup(), 'dtr');
    t.deepEqual(l.dtr.map((d) => d.dtr), [false, true]);
    // Long enough for a modem set to &D2 to notice (Hayes: DTR low for more than S25 hundredths).
    t.true(l.dtr[1]!.at - l.dtr[0]!.at >= 550, `${l.dtr[1]!.at - l.dtr[0]!.at} ms`);
    t.false(l.port!.recording.toString('latin1').includes('+++'));
    t.false(l.port!.recording.toString('latin1').includes('ATH'));
  } finally {
    await modem.close();
  }
});

test('without them (as on a pty): the modem knows, and carrier() cannot tell', async (t) => {
  const l = line('/dev/ttyS-mock1', false);
  const modem = await Modem.open({ device: '/dev/ttyS-mock1', baud: 115200, flowControl: 'none', binding: l.binding });
  try {
    t.false(modem.hasControlLines);
    t.is(await modem.carrier(), undefined);
  } finally {
    await modem.close();
  }
});
