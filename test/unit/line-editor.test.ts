// The console's line editor as a terminal sees it: keys in, bytes out.

import test from 'ava';
import { LineEditor } from '../../firmware/console/line-editor.js';

function editor(complete: (line: string) => string[] = () => []) {
  let out = '';
  const lines: string[] = [];
  const e = new LineEditor({ write: (t) => (out += t), prompt: () => 'gw> ', complete, line: (l) => void lines.push(l) });
  const screen = (): string => {
    const s = out.replace(/\x1b\[K/g, '');
    out = '';
    return s;
  };
  return { e, lines, screen };
}

test('typing, moving and editing: arrows, home/end, backspace, delete, Ctrl-U, Ctrl-W', (t) => {
  const { e, lines } = editor();
  e.input('status');
  e.input('\x1b[D\x1b[D\x1b[Dxx'); // left three, insert
  t.is(e.text, 'staxxtus');
  e.input('\x7f\x7f\x1b[3~'); // backspace twice, delete under the cursor
  t.is(e.text, 'staus');
  e.input('\x1b[H>\x1b[F<'); // home, end
  t.is(e.text, '>staus<');
  e.input('\x17'); // Ctrl-W: the word before the cursor
  t.is(e.text, '');
  e.input('masq udp\x15drops\r\n'); // Ctrl-U, and CR LF counts once
  t.deepEqual(lines, ['drops']);
});

test('history: up and down walk it and come back to what was being typed', (t) => {
  const { e, lines } = editor();
  e.input('one\rtwo\rthr');
  e.input('\x1b[A');
  t.is(e.text, 'two');
  e.input('\x1b[A\x1b[A');
  t.is(e.text, 'one');
  e.input('\x1b[B\x1b[B');
  t.is(e.text, 'thr');
  e.input('\x1b[A\r');
  t.deepEqual(lines, ['one', 'two', 'two']);
});

test('tab completes a single match, extends to the common prefix, or lists the choices', (t) => {
  const words = ['masq', 'modem', 'log'];
  const { e, screen } = editor((before) => words.filter((w) => w.startsWith(before.split(' ').pop() ?? '')));
  e.input('l\t');
  t.is(e.text, 'log ');
  e.input('\x15m\t');
  screen();
  e.input('\t');
  t.regex(screen(), /masq {2}modem\r\n/);
  t.is(e.text, 'm');
  e.input('a\t');
  t.is(e.text, 'masq ');
});

test('a log line is printed above the line being typed, which is drawn again as it was', (t) => {
  const { e, screen } = editor();
  e.input('sta');
  screen();
  e.printAbove('12:00:01 INFO  link_state link=lan0 up=true');
  t.is(screen(), '\r12:00:01 INFO  link_state link=lan0 up=true\r\n\rgw> sta');
  e.input('\x03'); // Ctrl-C drops the line
  t.is(e.text, '');
  e.input('\x00\x07x'); // control noise is ignored
  t.is(e.text, 'x');
});
