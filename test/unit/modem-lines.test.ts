// The modem's use of modem-control lines, which a pty (the PPP lab's modem) does not have: a
// USB modem or a UART wired with DTR and DCD. The line here is serialport's own mock driver,
// with DTR changes recorded and DCD set by the test; behind it, for the PPP WAN, a Hayes
// responder and our own dial-in session as the ISP.

import { createRequire } from 'node:module';
import test from 'ava';
// The package's ES module entry ships no types; its CommonJS one does.
import type { MockBindingInterface, MockPortBinding } from '@serialport/binding-mock' with { 'resolution-mode': 'require' };
import { Modem, type SerialBinding } from '../../drivers/modem/modem.js';
import { PppSession } from '../../drivers/ppp/session.js';
import { formatIpv4, parseIpv4 } from '../../firmware/core/addr.js';
import { xorshiftRng } from '../../firmware/core/nat/ports.js';
import { parseConfig } from '../../firmware/config/schema.js';
import { PppWan } from '../../firmware/wan/ppp-wan.js';

const { MockBinding } = createRequire(import.meta.url)('@serialport/binding-mock') as { MockBinding: MockBindingInterface };

interface Line {
  binding: SerialBinding;
  dcd: boolean;
  dtr: { dtr: boolean; at: number }[];
  port?: MockPortBinding;
  /** Called with what the gateway writes, instead of recording it. */
  written?: (b: Buffer) => void;
}

function line(path: string, controlLines: boolean, written?: (b: Buffer) => void): Line {
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

/** A Hayes modem on the line: OK to every command, CONNECT to ATD; in a call, our dial-in session answers. */
class HayesWithIsp {
  calls = 0;
  private command = '';
  private isp: PppSession | undefined;
  private readonly timer = setInterval(() => {
    this.isp?.tick(performance.now());
    this.flush();
  }, 50);

  constructor(private readonly l: Line) {}

  fromGateway(b: Buffer): void {
    if (this.isp !== undefined) {
      this.isp.receive(performance.now(), b);
      return this.flush();
    }
    for (const c of b.toString('latin1')) {
      if (c !== '\r') {
        this.command += c;
        continue;
      }
      const command = this.command.trim();
      this.command = '';
      if (!/^AT/i.test(command)) continue;
      if (/^ATD/i.test(command)) {
        this.calls++;
        this.l.dcd = true;
        this.say('CONNECT 115200');
        this.answer();
      } else {
        this.say('OK');
      }
    }
  }

  /** The call drops: carrier gone, and (as a modem set to &C1 does) only DCD tells. */
  dropCarrier(): void {
    this.l.dcd = false;
    this.isp?.lineDown(performance.now(), 'carrier lost');
    this.isp = undefined;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private answer(): void {
    const isp = new PppSession(
      {
        user: '', password: '', mru: 1500, echoIntervalMs: 0, echoFailures: 0, rng: xorshiftRng(Uint32Array.of(3, 1, 4, 1)),
        authenticateCaller: { protocol: 'chap', name: 'isp', secrets: (n) => (n === 'gateway' ? 's3cret' : undefined) },
        ipcp: { localAddress: parseIpv4('10.64.0.1'), peerAddress: parseIpv4('10.64.0.2'), requestDns: false, dnsForPeer: [parseIpv4('10.64.0.53')] },
      },
      { ipUp: () => {}, ipDown: () => {}, datagram: () => {}, authFailed: () => {}, ended: () => {}, note: () => {} },
    );
    this.isp = isp;
    isp.start(performance.now());
    this.flush();
  }

  private say(text: string): void {
    this.l.port!.emitData(Buffer.from(`\r\n${text}\r\n`));
  }

  private flush(): void {
    const out = this.isp?.takeOutput();
    if (out !== undefined && out.length > 0) this.l.port!.emitData(Buffer.from(out));
  }
}

test('the PPP WAN on a modem with DCD and DTR: carrier loss is seen on DCD, the call is hung up with DTR, and redialled', async (t) => {
  let modem: HayesWithIsp | undefined;
  const l = line('/dev/ttyUSB-mock2', true, (b) => modem?.fromGateway(b));
  modem = new HayesWithIsp(l);
  const parsed = parseConfig('[wan]\ntype = "ppp"\n[modem]\ndevice = "/dev/ttyUSB-mock2"\ninit = ["ATZ"]\ndial = "ATD*99#"\n[ppp]\nuser = "gateway"\npassword = "s3cret"\nholdoff = 1\nlcp_echo_interval = 0\n');
  if (!parsed.ok) return t.fail(JSON.stringify(parsed.errors));
  const addresses: string[] = [];
  const notes: { event: string; fields: Record<string, unknown> }[] = [];
  const waitFor = async (what: () => boolean, ms: number): Promise<void> => {
    for (const stop = Date.now() + ms; !what(); ) {
      if (Date.now() > stop) throw new Error(`timed out; notes: ${JSON.stringify(notes)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const wan = new PppWan('ppp0', { ...parsed.config.modem, ...parsed.config.ppp, rng: xorshiftRng(Uint32Array.of(2, 7, 1, 8)), binding: l.binding }, {
    address: (a) => addresses.push(a === undefined ? 'down' : formatIpv4(a.localAddress)),
    note: (_level, event, fields) => notes.push({ event, fields }),
  });
  try {
    wan.start(() => {}, () => {});
    await waitFor(() => addresses.includes('10.64.0.2'), 10_000);
    t.true(notes.some((n) => n.event === 'modem_open' && n.fields['controlLines'] === true));
    t.deepEqual(l.dtr, []);
    const droppedAt = performance.now();
    modem.dropCarrier();
    await waitFor(() => notes.some((n) => n.event === 'ppp_down'), 5_000);
    const down = notes.find((n) => n.event === 'ppp_down')!;
    t.is(down.fields['reason'], 'carrier lost (DCD)');
    // DCD is polled once a second.
    await waitFor(() => l.dtr.length === 2, 5_000);
    t.true(l.dtr[0]!.at - droppedAt <= 2_000);
    t.deepEqual(l.dtr.map((d) => d.dtr), [false, true]);
    await waitFor(() => addresses.filter((a) => a === '10.64.0.2').length === 2, 10_000);
    t.is(modem.calls, 2);
    t.deepEqual(addresses, ['10.64.0.2', 'down', '10.64.0.2']);
    t.is(wan.status()['state'], 'up');
  } finally {
    await wan.stop();
    modem.stop();
  }
});
