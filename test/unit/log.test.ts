// Log records (firmware/log.ts): secrets never reach a log line, whatever object carries them,
// and the rest of the record is written as it was given.

import test from 'ava';
import { createLogger, LogSink, withoutSecretFields } from '../../firmware/log.js';

function capture(): { lines: string[]; sink: LogSink } {
  const lines: string[] = [];
  return { lines, sink: new LogSink(false, (t) => void lines.push(t)) };
}

test('a password or PIN in a record, in a field of it or two levels down is written as [secret]', (t) => {
  const { lines, sink } = capture();
  const log = createLogger('info', sink);
  log.info({ event: 'ppp_auth', user: 'isp', password: 'hunter2', modem: { pin: '1234', at: { password: 'deep' } }, calls: [{ pin: '9999' }] });
  t.is(lines.length, 1);
  const line = lines[0]!;
  for (const secret of ['hunter2', '1234', 'deep', '9999']) t.false(line.includes(secret), `${secret} in ${line}`);
  const o = JSON.parse(line) as Record<string, unknown>;
  t.is(o['password'], '[secret]');
  t.deepEqual(o['modem'], { pin: '[secret]', at: { password: '[secret]' } });
  t.deepEqual(o['calls'], [{ pin: '[secret]' }]);
  t.is(o['user'], 'isp');
  t.is(o['event'], 'ppp_auth');
});

test('a child logger\'s bound fields are censored too', (t) => {
  const { lines, sink } = capture();
  createLogger('info', sink).child({ part: 'wan', password: 'bound' }).warn({ event: 'x' });
  t.false(lines[0]!.includes('bound'));
  t.is((JSON.parse(lines[0]!) as Record<string, unknown>)['password'], '[secret]');
});

test('a record without secrets is the same object, and the caller\'s object is never changed', (t) => {
  const clean = { event: 'link_state', link: { name: 'eth0', up: true }, data: new Uint8Array(4) };
  t.is(withoutSecretFields(clean), clean);
  const given = { event: 'x', modem: { pin: '1234' } };
  const out = withoutSecretFields(given);
  t.not(out, given);
  t.is(given.modem.pin, '1234');
  t.deepEqual(out, { event: 'x', modem: { pin: '[secret]' } });
});
