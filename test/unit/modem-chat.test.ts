// The chat engine (drivers/modem/chat.ts) with an injected clock: steps, per-step timeouts,
// abort strings, echo, data after CONNECT, and the AT reply parsers.

import test from 'ava';
import { Chat, command, FLUSH_LINE, parseCops, parseCpin, parseCsq, type ChatAction } from '../../drivers/modem/chat.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const sent = (actions: ChatAction[]): string[] => actions.flatMap((a) => (a.kind === 'send' ? [a.text] : []));
const done = (actions: ChatAction[]) => actions.find((a) => a.kind === 'done')?.result;

test('each step sends its string and waits for its reply; the last match completes the script', (t) => {
  const chat = new Chat([FLUSH_LINE, command('ATZ'), { send: 'ATDT5551234', expect: ['CONNECT'], timeoutMs: 60_000 }]);
  t.deepEqual(sent(chat.start(0)), ['\r', 'ATZ\r']);
  // The modem echoes the command: an echo is not a reply.
  t.deepEqual(chat.receive(10, bytes('ATZ\r\r\n')), []);
  t.deepEqual(sent(chat.receive(20, bytes('OK\r\n'))), ['ATDT5551234\r']);
  const r = done(chat.receive(30_000, bytes('\r\nCONNECT 115200\r\n~\xff\x7d#')));
  t.is(r?.kind, 'ok');
  if (r?.kind !== 'ok') return;
  t.is(r.matched, 'CONNECT 115200');
  t.deepEqual([...r.rest], [...bytes('~\xff\x7d#')], 'PPP bytes right after CONNECT are kept for the session');
  t.true(chat.done);
});

for (const reason of ['BUSY', 'NO CARRIER', 'NO DIALTONE', 'NO ANSWER', 'ERROR', '+CME ERROR: 11']) {
  test(`the abort string ${reason} ends the script at once with the modem's words`, (t) => {
    const chat = new Chat([{ send: 'ATD*99#', expect: ['CONNECT'], timeoutMs: 60_000 }]);
    chat.start(0);
    const r = done(chat.receive(5, bytes(`\r\n${reason}\r\n`)));
    t.deepEqual(r, { kind: 'abort', reason, step: 0, lines: [] });
  });
}

test('a step without its reply times out at its own deadline, naming what it expected', (t) => {
  const chat = new Chat([command('AT', 2000), { send: 'ATD1', expect: ['CONNECT'], timeoutMs: 45_000 }]);
  chat.start(1000);
  t.deepEqual(chat.tick(2999), []);
  t.deepEqual(done(chat.tick(3000)), { kind: 'timeout', step: 0, expecting: ['OK'], lines: [] });
  const slow = new Chat([command('AT', 2000), { send: 'ATD1', expect: ['CONNECT'], timeoutMs: 45_000 }]);
  slow.start(0);
  slow.receive(100, bytes('OK\r\n'));
  t.deepEqual(slow.tick(45_000), [], 'the dial step has its own, longer timeout');
  t.is(done(slow.tick(45_100))?.kind, 'timeout');
});

test('information lines are collected; line noise and overlong lines neither match nor grow memory', (t) => {
  const chat = new Chat([command('AT+CSQ')]);
  chat.start(0);
  chat.receive(1, bytes(`\x00\xff${'x'.repeat(5000)}\r\n`));
  const r = done(chat.receive(2, bytes('\r\n+CSQ: 17,99\r\n\r\nOK\r\n')));
  t.is(r?.kind, 'ok');
  t.is(r?.lines.length, 2);
  t.true(r!.lines[0]!.length <= 512);
  t.deepEqual(parseCsq(r!.lines), { rssi: 17, dbm: -79 });
});

test('replies split across reads still match', (t) => {
  const chat = new Chat([command('AT')]);
  chat.start(0);
  t.deepEqual(chat.receive(1, bytes('\r\nO')), []);
  t.is(done(chat.receive(2, bytes('K\r\n')))?.kind, 'ok');
});

test('AT reply parsers: signal, operator, SIM state', (t) => {
  t.deepEqual(parseCsq(['+CSQ: 99,99']), { rssi: 99, dbm: undefined });
  t.deepEqual(parseCsq(['+CSQ: 0,0']), { rssi: 0, dbm: -113 });
  t.is(parseCsq(['ERROR']), undefined);
  t.is(parseCops(['+COPS: 0,0,"Telekom.de",7']), 'Telekom.de');
  t.is(parseCops(['+COPS: 0']), undefined);
  t.is(parseCpin(['+CPIN: SIM PIN']), 'SIM PIN');
  t.is(parseCpin(['+CPIN: READY']), 'READY');
});
