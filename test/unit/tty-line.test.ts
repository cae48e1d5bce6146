// The console's serial line (drivers/tty-line.ts, addon/serial_line.c) on a pty pair from
// socat: set raw 8N1 at the speed asked, both ways through one stream; a speed termios has no
// constant for is left to serialport's driver; a device that is no terminal is refused.

import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createReadStream, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRawLine } from '../../drivers/tty-line.js';

const dir = mkdtempSync(join(tmpdir(), 'tty-line-'));
const gatewaySide = join(dir, 'gw');
const userSide = join(dir, 'user');
const socat = spawn('socat', [`PTY,link=${gatewaySide},echo=1,icanon=1`, `PTY,link=${userSide},raw,echo=0`], { stdio: 'ignore' });

test.before(async () => {
  for (let i = 0; i < 100 && !(existsSync(gatewaySide) && existsSync(userSide)); i++) await new Promise((r) => setTimeout(r, 20));
});

test.after.always(() => {
  socat.kill();
  rmSync(dir, { recursive: true, force: true });
});

test.serial('a standard speed: raw 8N1, no echo, no output processing, modem lines ignored; bytes both ways', async (t) => {
  const line = openRawLine(gatewaySide, 57600);
  t.truthy(line);
  const settings = execFileSync('stty', ['-F', gatewaySide, '-a'], { encoding: 'utf8' });
  t.regex(settings, /speed 57600 baud/);
  for (const flag of ['-echo', '-icanon', '-isig', '-opost', '-parenb', '-cstopb', '-crtscts', 'cs8', 'clocal', 'cread']) {
    t.regex(settings, new RegExp(`(^|\\s)${flag}(\\s|$)`), flag);
  }
  const user = createReadStream(userSide);
  const typed = createWriteStream(userSide);
  // A read still pending on the pool fails with EIO once socat closes the pair: expected.
  user.on('error', () => undefined);
  typed.on('error', () => undefined);
  const heard = new Promise<string>((resolve) => user.once('data', (d) => resolve(String(d))));
  line!.write('status\n');
  t.is(await heard, 'status\n', 'no carriage return added: output is not processed');
  const got = new Promise<string>((resolve) => line!.once('data', (d: Buffer) => resolve(String(d))));
  // The bytes can reach the line before the write's own completion: wait for both before
  // destroying the stream, whose pending write would otherwise fail (ERR_STREAM_DESTROYED).
  await new Promise<void>((done, fail) => typed.write('\x03x', (e) => (e ? fail(e) : done())));
  t.is(await got, '\x03x', 'Ctrl-C is a byte, not a signal');
  line!.destroy();
  user.destroy();
  typed.destroy();
});

test.serial('a speed termios has no constant for is left to the caller (serialport\'s driver); the device is untouched', (t) => {
  const before = execFileSync('stty', ['-F', gatewaySide, 'speed'], { encoding: 'utf8' });
  t.is(openRawLine(gatewaySide, 123456), undefined);
  t.is(execFileSync('stty', ['-F', gatewaySide, 'speed'], { encoding: 'utf8' }), before);
});

test.serial('a device that is not a terminal is refused with the reason', (t) => {
  t.throws(() => openRawLine('/dev/null', 115200), { message: /inappropriate ioctl|not a (type)?writer|tty/i });
});
