// Dial-in pieces without a line: the answering modem's chat on a mock serial port with a
// scripted Hayes modem (RING, ATA, CONNECT, NO CARRIER, a modem that stops answering), the
// terminal-server login with AutoPPP, the address pool, and carrier watching. Time is a manual clock.

import test from 'ava';
import type { MockPortBinding } from '@serialport/binding-mock' with { 'resolution-mode': 'require' };
import { answer, prepareToAnswer, RING_GAP_MS, type AnswerConfig } from '../../drivers/modem/answerer.js';
import { CarrierWatch } from '../../drivers/modem/carrier.js';
import { Modem } from '../../drivers/modem/modem.js';
import { ManualClock } from '../../firmware/clock.js';
import { parseIpv4 } from '../../firmware/core/addr.js';
import { COMMAND_PROMPT, LOGIN_PROMPT, PASSWORD_PROMPT, TerminalLogin, type LoginOutcome } from '../../firmware/dialin/login.js';
import { AddressPool } from '../../firmware/dialin/pool.js';
import { line } from '../lib/serial-line.js';

const CONFIG: AnswerConfig = { init: ['ATZ', 'ATS0=0'], rings: 2, connectTimeoutMs: 30_000, idleCheckMs: 60_000 };

/** A Hayes modem on a mock port: OK to commands (unless silent), CONNECT or NO CARRIER to ATA. */
async function hayes(path: string, clock: ManualClock) {
  const script = { silent: false, ata: 'CONNECT 33600', commands: [] as string[] };
  let port: MockPortBinding | undefined;
  const say = (text: string): void => void setImmediate(() => port!.emitData(Buffer.from(`\r\n${text}\r\n`, 'latin1')));
  const l = line(clock, path, false, (b) => {
    for (const cmd of b.toString('latin1').split('\r').map((c) => c.trim()).filter((c) => c !== '')) {
      script.commands.push(cmd);
      if (script.silent) continue;
      say(/^ATA$/i.test(cmd) ? `${script.ata}${script.ata.startsWith('CONNECT') ? '\r\n~\xff}#' : ''}` : 'OK');
    }
  });
  const modem = await Modem.open({ device: path, baud: 115200, flowControl: 'none', binding: l.binding, clock });
  port = l.port;
  return { modem, script, ring: () => say('RING') };
}

/** Lets the mock port's setImmediate deliveries and the chat's promises run. */
const settle = async (clock: ManualClock, ms = 0): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  if (ms > 0) await clock.run(ms);
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

test('answering: the init strings, then ATA on the configured RING, and the bytes after CONNECT', async (t) => {
  const clock = new ManualClock();
  const m = await hayes('/dev/ttyS-answer1', clock);
  try {
    t.is(await prepareToAnswer(m.modem, CONFIG), undefined);
    t.deepEqual(m.script.commands, ['AT', 'ATZ', 'ATS0=0']);
    const outcome = answer(m.modem, CONFIG, () => clock.now());
    await settle(clock, 100);
    m.ring();
    await settle(clock, 100);
    t.false(m.script.commands.includes('ATA'), 'not on the first ring');
    await settle(clock, 3000);
    m.ring();
    await settle(clock, 100);
    const o = await outcome;
    t.is(o.kind, 'connected');
    if (o.kind !== 'connected') return;
    t.is(o.connect, 'CONNECT 33600');
    t.is(o.rings, 2);
    t.is(Buffer.from(o.rest).toString('latin1'), '~\xff}#\r\n', 'what followed CONNECT is kept for the call');
  } finally {
    await m.modem.close();
  }
});

test('answering: rings further apart than a ring cadence start a new count; NO CARRIER after ATA is a failed answer', async (t) => {
  const clock = new ManualClock();
  const m = await hayes('/dev/ttyS-answer2', clock);
  try {
    m.script.ata = 'NO CARRIER';
    const outcome = answer(m.modem, CONFIG, () => clock.now());
    await settle(clock, 10);
    m.ring();
    await settle(clock, RING_GAP_MS + 1000);
    m.ring();
    await settle(clock, 100);
    t.false(m.script.commands.includes('ATA'), 'the caller gave up after one ring; this is another first ring');
    await settle(clock, 2000);
    m.ring();
    await settle(clock, 100);
    const o = await outcome;
    t.like(o, { kind: 'failed', code: 'no-carrier' });
  } finally {
    await m.modem.close();
  }
});

test('answering: an idle modem is asked AT now and then; one that stopped answering is reported silent, never waited on forever', async (t) => {
  const clock = new ManualClock();
  const m = await hayes('/dev/ttyS-answer3', clock);
  try {
    const outcome = answer(m.modem, { ...CONFIG, idleCheckMs: 10_000 }, () => clock.now());
    await settle(clock, 10_100);
    t.true(m.script.commands.includes('AT'), 'the idle check');
    m.script.silent = true;
    await settle(clock, 10_000);
    await settle(clock, 3000);
    const o = await outcome;
    t.like(o, { kind: 'failed', code: 'modem-silent' });
    // And a silent modem at init is reported the same way.
    t.like(await Promise.all([prepareToAnswer(m.modem, CONFIG), settle(clock, 3000)]).then(([r]) => r), { kind: 'failed', code: 'modem-silent' });
  } finally {
    await m.modem.close();
  }
});

test('answering: closing the modem ends a wait for RING at once', async (t) => {
  const clock = new ManualClock();
  const m = await hayes('/dev/ttyS-answer4', clock);
  const outcome = answer(m.modem, CONFIG, () => clock.now());
  await settle(clock, 10);
  await m.modem.close();
  t.like(await outcome, { kind: 'failed', code: 'closed' });
});

function terminal(protocols: ('ppp' | 'slip')[] = ['ppp', 'slip']) {
  let out = '';
  const done: LoginOutcome[] = [];
  const login = new TerminalLogin(
    { banner: 'Gateway dial-in', protocols, password: (u) => ({ alice: 'wonderland' } as Record<string, string>)[u], timeoutMs: 60_000 },
    { write: (text) => (out += text), done: (o) => done.push(o) },
  );
  login.start(0);
  const type = (text: string): void => login.receive(Buffer.from(text, 'latin1'));
  return { login, type, done, output: () => out, clear: () => (out = '') };
}

test('login: user, password (not echoed), then slip or cslip; backspace edits', (t) => {
  const term = terminal();
  t.true(term.output().endsWith(LOGIN_PROMPT));
  term.type('alicx\x7fe\r\n');
  t.true(term.output().includes('alicx\b \be'), 'the user name is echoed, with its correction');
  t.true(term.output().endsWith(PASSWORD_PROMPT));
  term.clear();
  term.type('wonderland\r');
  t.false(term.output().includes('wonderland'), 'the password is not echoed');
  t.true(term.output().endsWith(COMMAND_PROMPT));
  term.type('telnet\r');
  t.regex(term.output(), /Unknown command "telnet"\. Type ppp, slip, cslip\./);
  term.type('CSLIP\r');
  t.deepEqual(term.done, [{ kind: 'slip', user: 'alice', compress: true }]);
});

test('login: ppp after logging in needs no second authentication; three wrong passwords end the call', (t) => {
  const ok = terminal();
  ok.type('alice\rwonderland\rppp\r');
  t.like(ok.done[0], { kind: 'ppp', user: 'alice' });
  const bad = terminal();
  bad.type('alice\rnope\r');
  t.regex(bad.output(), /Login incorrect\.\r\n\r\nlogin: $/);
  bad.type('mallory\rwonderland\r');
  bad.type('alice\rstill-wrong\r');
  t.is(bad.done.length, 1);
  t.like(bad.done[0], { kind: 'failed' });
  t.regex((bad.done[0] as { reason: string }).reason, /login incorrect 3 times/);
  t.notRegex((bad.done[0] as { reason: string }).reason, /still-wrong|nope/, 'no password in the reason');
});

test('login: a caller that speaks PPP at once (AutoPPP) goes straight to PPP with its frame; not when only SLIP is offered', (t) => {
  const term = terminal();
  // pppd's first LCP Configure-Request: flag, then ff 03 escaped as ff 7d 23.
  term.login.receive(Uint8Array.of(0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21, 0x7d, 0x21));
  t.is(term.done.length, 1);
  const o = term.done[0]!;
  t.is(o.kind, 'ppp');
  if (o.kind === 'ppp') {
    t.is(o.user, undefined, 'PPP authenticates');
    t.deepEqual([...o.rest], [0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21, 0x7d, 0x21]);
  }
  const escaped = terminal();
  escaped.login.receive(Uint8Array.of(0x0d, 0x7e, 0x7d, 0xdf, 0x7d, 0x23));
  t.like(escaped.done[0], { kind: 'ppp' });
  const slipOnly = terminal(['slip']);
  slipOnly.login.receive(Uint8Array.of(0x7e, 0xff, 0x7d, 0x23));
  t.deepEqual(slipOnly.done, []);
});

test('login: a caller that says nothing is hung up after the timeout', (t) => {
  const term = terminal();
  term.login.tick(59_000);
  t.deepEqual(term.done, []);
  term.login.tick(60_000);
  t.deepEqual(term.done, [{ kind: 'failed', reason: 'login timed out' }]);
});

test('the pool: lowest free address first, never one in use, fixed addresses kept for their users, shared across pools', (t) => {
  const a = (s: string): number => parseIpv4(s);
  const taken = new Set<number>();
  const reserved = new Set([a('192.168.0.241')]);
  const pool = new AddressPool(a('192.168.0.240'), a('192.168.0.243'), reserved, taken);
  const other = new AddressPool(a('192.168.0.240'), a('192.168.0.241'), reserved, taken);
  t.is(pool.take(undefined), a('192.168.0.240'));
  t.is(pool.take(undefined), a('192.168.0.242'), '.241 is a user\'s fixed address');
  t.is(pool.take(a('192.168.0.241')), a('192.168.0.241'), 'its user gets it');
  t.is(pool.take(a('192.168.0.241')), undefined, 'not twice: the user is already connected');
  t.is(other.take(undefined), undefined, 'the other pool sees the same addresses in use');
  t.is(pool.take(undefined), a('192.168.0.243'));
  t.is(pool.take(undefined), undefined, 'exhausted');
  pool.release(a('192.168.0.240'));
  t.is(other.take(undefined), a('192.168.0.240'));
  t.deepEqual(pool.inUse(), [a('192.168.0.240'), a('192.168.0.241'), a('192.168.0.242'), a('192.168.0.243')]);
});

test('carrier: NO CARRIER in the data ends the call only when the far end then gives no sign of life (our own frames echoed back are none)', (t) => {
  const clock = new ManualClock();
  const fakeModem = { watchesCarrier: false } as unknown as Modem;
  let alive = 0;
  let probes = 0;
  const lost: string[] = [];
  const watch = new CarrierWatch(fakeModem, clock, () => alive, (r) => lost.push(r), () => probes++);
  watch.start();
  // A download that happens to carry the text, split across reads: the peer answers the probe.
  watch.data(Buffer.from('...NO CAR'));
  watch.data(Buffer.from('RIER...'));
  t.is(probes, 1, 'asked for a sign of life at once');
  clock.advance(500);
  alive++; // its LCP Echo-Reply
  clock.advance(1000);
  watch.tick(clock.now());
  t.deepEqual(lost, []);
  // The line really dropped: the modem says so, then echoes our frames back (no sign of life).
  watch.data(Buffer.from('\r\nNO CARRIER\r\n'));
  watch.data(Buffer.from('~!E\u0000our own frame~'));
  clock.advance(500);
  watch.tick(clock.now());
  t.deepEqual(lost, [], 'a moment is given');
  clock.advance(600);
  watch.tick(clock.now());
  t.deepEqual(lost, ['the modem said NO CARRIER']);
  t.true(watch.sawNoCarrier);
  watch.stop();
});
