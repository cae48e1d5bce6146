// The modem's use of modem-control lines, which a pty (the PPP lab's modem) does not have: a
// USB modem or a UART wired with DTR and DCD. The line here is serialport's own mock driver,
// with DTR changes recorded and DCD set by the test; behind it, for the PPP WAN, a Hayes
// responder and our own dial-in session as the ISP. Time is a manual clock: nothing sleeps.

import test from 'ava';
import type { MockPortBinding } from '@serialport/binding-mock' with { 'resolution-mode': 'require' };
import { Modem } from '../../drivers/modem/modem.js';
import { PppSession } from '../../drivers/ppp/session.js';
import { ManualClock } from '../../firmware/clock.js';
import { parseIpv4 } from '../../firmware/core/addr.js';
import { xorshiftRng } from '../../firmware/core/nat/ports.js';
import { parseConfig } from '../../firmware/config/schema.js';
import { PppWan } from '../../firmware/wan/ppp-wan.js';
import { until, world } from '../lib/parts.js';
import { line, type Line } from '../lib/serial-line.js';

test('with modem-control lines: DCD is read, and hang-up drops DTR for a moment instead of +++ and ATH', async (t) => {
  const clock = new ManualClock();
  const l = line(clock, '/dev/ttyUSB-mock0', true);
  const modem = await Modem.open({ device: '/dev/ttyUSB-mock0', baud: 115200, flowControl: 'rtscts', binding: l.binding, clock });
  try {
    t.true(modem.hasControlLines);
    t.is(await modem.carrier(), true);
    l.dcd = false;
    t.is(await modem.carrier(), false);
    modem.write(new TextEncoder().encode('~PPP bytes~'));
    const hangup = modem.hangup();
    await clock.run(1000);
    t.is(await hangup, 'dtr');
    t.deepEqual(l.dtr.map((d) => d.dtr), [false, true]);
    // Long enough for a modem set to &D2 to notice (Hayes: DTR low for more than S25 hundredths).
    t.true(l.dtr[1]!.at - l.dtr[0]!.at >= 550, `${l.dtr[1]!.at - l.dtr[0]!.at} ms`);
    t.false(l.port!.recording.toString('latin1').includes('+++'));
    t.false(l.port!.recording.toString('latin1').includes('ATH'));
  } finally {
    await modem.close();
  }
});

test('without them, hang-up is +++ between guard times, then ATH: the clock decides, nobody sleeps', async (t) => {
  const clock = new ManualClock();
  const said: { text: string; at: number }[] = [];
  let port: MockPortBinding | undefined;
  const l = line(clock, '/dev/ttyS-mock3', false, (b) => {
    const text = b.toString('latin1');
    said.push({ text, at: clock.now() });
    if (text === '+++' || /ATH/.test(text)) setImmediate(() => port!.emitData(Buffer.from('\r\nOK\r\n')));
  });
  const modem = await Modem.open({ device: '/dev/ttyS-mock3', baud: 115200, flowControl: 'none', binding: l.binding, clock });
  port = l.port;
  try {
    modem.write(new TextEncoder().encode('~last PPP frame~'));
    const hangup = modem.hangup();
    await clock.run(500);
    t.false(said.some((s) => s.text === '+++'), 'nothing before the guard time has passed');
    await clock.run(3000);
    t.is(await hangup, 'escape');
    const escape = said.find((s) => s.text === '+++')!;
    t.true(escape.at - said[0]!.at >= 1000, 'one second of silence before +++ (Hayes S12)');
    t.true(said.some((s) => /^ATH/.test(s.text) && s.at >= escape.at));
  } finally {
    await modem.close();
  }
});

test('without them (as on a pty): the modem knows, and carrier() cannot tell', async (t) => {
  const clock = new ManualClock();
  const l = line(clock, '/dev/ttyS-mock1', false);
  const modem = await Modem.open({ device: '/dev/ttyS-mock1', baud: 115200, flowControl: 'none', binding: l.binding, clock });
  try {
    t.false(modem.hasControlLines);
    t.is(await modem.carrier(), undefined);
  } finally {
    await modem.close();
  }
});

/** A Hayes modem on the line: OK to every command, CONNECT to ATD (or BUSY while `busy` lasts); in a call, our dial-in session answers. */
class HayesWithIsp {
  calls = 0;
  busy = 0;
  private command = '';
  private isp: PppSession | undefined;
  private readonly timer;

  constructor(private readonly l: Line, private readonly clock: ManualClock) {
    l.dtrDropped = () => {
      this.isp = undefined;
      this.command = '';
    };
    this.timer = clock.every(50, () => {
      this.isp?.tick(clock.now());
      this.flush();
    });
  }

  fromGateway(b: Buffer): void {
    if (this.isp !== undefined) {
      this.isp.receive(this.clock.now(), b);
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
        if (this.busy > 0) {
          this.busy--;
          this.say('BUSY');
          continue;
        }
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
    this.isp?.lineDown(this.clock.now(), 'carrier lost');
    this.isp = undefined;
  }

  stop(): void {
    this.timer.cancel();
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
    isp.start(this.clock.now());
    this.flush();
  }

  private say(text: string): void {
    const port = this.l.port!;
    setImmediate(() => port.emitData(Buffer.from(`\r\n${text}\r\n`)));
  }

  private flush(): void {
    const out = this.isp?.takeOutput();
    if (out !== undefined && out.length > 0) this.l.port!.emitData(Buffer.from(out));
  }
}

/** Stops the WAN while the manual clock runs (the polite close and the hang-up wait on it). */
async function stopOnClock(wan: PppWan, clock: ManualClock, modem: HayesWithIsp): Promise<void> {
  const stopping = wan.stop();
  await clock.run(3_000);
  await stopping;
  modem.stop();
}

const PPP_CONFIG = '[wan]\ntype = "ppp"\n[modem]\ndevice = "/dev/ttyUSB-mock2"\ninit = ["ATZ"]\ndial = "ATD*99#"\n[ppp]\nuser = "gateway"\npassword = "s3cret"\nholdoff = 1\nmax_backoff = 8\nlcp_echo_interval = 0\n';

test('the PPP WAN on a modem with DCD and DTR: carrier loss is seen on DCD, the call is hung up with DTR, and redialled', async (t) => {
  const w = world();
  const { clock } = w;
  let modem: HayesWithIsp | undefined;
  const l = line(clock, '/dev/ttyUSB-mock2', true, (b) => modem?.fromGateway(b));
  modem = new HayesWithIsp(l, clock);
  const parsed = parseConfig(PPP_CONFIG);
  if (!parsed.ok) return t.fail(JSON.stringify(parsed.errors));
  const logged = (event: string) => w.logs.filter((r) => r['event'] === event);
  const addresses = () => w.heard.flatMap((e) => (e.kind === 'address' ? [e.address] : e.kind === 'link' ? [e.up ? 'up' : 'down'] : []));
  const wan = new PppWan({ ...parsed.config.modem, ...parsed.config.ppp }, { binding: l.binding });
  const explain = () => JSON.stringify(w.logs.slice(-8));
  try {
    wan.start(w.ctx);
    await until(clock, () => addresses().includes('10.64.0.2/32'), 10_000, explain);
    t.true(logged('modem_open').some((r) => r['controlLines'] === true));
    t.deepEqual(l.dtr, []);
    const droppedAt = clock.now();
    modem.dropCarrier();
    await until(clock, () => logged('ppp_down').length > 0, 5_000, explain);
    t.is(logged('ppp_down')[0]!['reason'], 'carrier lost (DCD)');
    // DCD is polled once a second.
    await until(clock, () => l.dtr.length === 2, 5_000, explain);
    t.true(l.dtr[0]!.at - droppedAt <= 1_500, `${l.dtr[0]!.at - droppedAt} ms`);
    t.deepEqual(l.dtr.map((d) => d.dtr), [false, true]);
    await until(clock, () => addresses().filter((a) => a === '10.64.0.2/32').length === 2, 10_000, explain);
    t.is(modem.calls, 2);
    t.deepEqual(addresses(), ['10.64.0.2/32', 'up', 'down', '10.64.0.2/32', 'up']);
    t.is(wan.status().state, 'up');
    t.is(wan.status().lastError, null, 'a recovered link does not show the old error');
  } finally {
    await stopOnClock(wan, clock, modem);
  }
});

test('carrier = "none" (a three-wire UART reads DCD low): the call stays up after CONNECT, and the modem\'s NO CARRIER still ends it', async (t) => {
  const w = world();
  const { clock } = w;
  let modem: HayesWithIsp | undefined;
  const l = line(clock, '/dev/ttyUSB-mock6', true, (b) => modem?.fromGateway(b));
  modem = new HayesWithIsp(l, clock);
  const parsed = parseConfig(PPP_CONFIG.replace('mock2', 'mock6').replace('dial = ', 'carrier = "none"\ndial = '));
  if (!parsed.ok) return t.fail(JSON.stringify(parsed.errors));
  t.is(parsed.config.modem.carrier, 'none');
  const logged = (event: string) => w.logs.filter((r) => r['event'] === event);
  const addresses = () => w.heard.flatMap((e) => (e.kind === 'address' ? [e.address] : e.kind === 'link' ? [e.up ? 'up' : 'down'] : []));
  const wan = new PppWan({ ...parsed.config.modem, ...parsed.config.ppp }, { binding: l.binding });
  const explain = () => JSON.stringify(w.logs.slice(-8));
  try {
    l.dcd = false; // not wired: it reads low from the start
    wan.start(w.ctx);
    await until(clock, () => addresses().includes('10.64.0.2/32'), 10_000, explain);
    t.true(logged('modem_open').some((r) => r['controlLines'] === true && r['carrier'] === 'none'));
    await clock.run(10_000);
    t.deepEqual(logged('ppp_down'), [], 'a low DCD is not a lost carrier');
    t.is(wan.status().state, 'up');
    t.deepEqual(l.dtr, []);
  } finally {
    await stopOnClock(wan, clock, modem);
  }
});

test('ppp down at the console hangs up and stops dialling; ppp up dials again', async (t) => {
  const w = world();
  const { clock } = w;
  let modem: HayesWithIsp | undefined;
  const l = line(clock, '/dev/ttyUSB-mock5', true, (b) => modem?.fromGateway(b));
  modem = new HayesWithIsp(l, clock);
  const parsed = parseConfig(PPP_CONFIG.replace('mock2', 'mock5'));
  if (!parsed.ok) return t.fail(JSON.stringify(parsed.errors));
  const wan = new PppWan({ ...parsed.config.modem, ...parsed.config.ppp }, { binding: l.binding });
  const ups = () => w.heard.filter((e) => e.kind === 'address').length;
  try {
    wan.start(w.ctx);
    await until(clock, () => ups() === 1, 10_000);
    const down = w.ctx.commands.run('ppp', ['down']);
    await clock.run(3_000);
    const r = await down;
    t.true(r.ok && /held down/.test(r.text), JSON.stringify(r));
    t.deepEqual(l.dtr.map((d) => d.dtr), [false, true], 'hung up with DTR');
    await clock.run(60_000);
    t.is(modem.calls, 1, 'no redial while held down');
    t.is(wan.status().state, 'stopped');
    const up = await w.ctx.commands.run('ppp', ['up']);
    t.true(up.ok);
    await until(clock, () => ups() === 2, 10_000);
    t.is(modem.calls, 2);
    const m = await w.ctx.commands.run('modem', []);
    t.true(m.ok && /> ATD\*99#/.test(m.text) && /< CONNECT 115200/.test(m.text), m.ok ? m.text : m.error);
  } finally {
    await stopOnClock(wan, clock, modem);
  }
});

test('the PPP WAN backs off holdoff × 2ⁿ⁻¹ between failed dials, up to max_backoff, on the manual clock', async (t) => {
  const w = world();
  const { clock } = w;
  let modem: HayesWithIsp | undefined;
  const l = line(clock, '/dev/ttyUSB-mock4', true, (b) => modem?.fromGateway(b));
  modem = new HayesWithIsp(l, clock);
  modem.busy = 5;
  const parsed = parseConfig(PPP_CONFIG.replace('mock2', 'mock4'));
  if (!parsed.ok) return t.fail(JSON.stringify(parsed.errors));
  const wan = new PppWan({ ...parsed.config.modem, ...parsed.config.ppp }, { binding: l.binding });
  const waits = () => w.logs.filter((r) => r['event'] === 'ppp_redial_wait').map((r) => r['seconds']);
  const explain = () => JSON.stringify(w.logs.slice(-8));
  try {
    wan.start(w.ctx);
    await until(clock, () => w.heard.some((e) => e.kind === 'address'), 60_000, explain);
    t.deepEqual(waits(), [1, 2, 4, 8, 8], 'holdoff 1 s doubled per failure, capped at max_backoff 8 s');
    t.is(modem.calls, 6);
    const failures = w.heard.filter((e) => e.kind === 'wan' && e.phase === 'holdoff');
    t.true(failures.length >= 5 && failures.every((e) => e.kind === 'wan' && e.failure === 'busy'), JSON.stringify(failures));
    t.is(wan.status().failures, 0, 'the count starts again once a call comes up');
  } finally {
    await stopOnClock(wan, clock, modem);
  }
});
