// A serial line as Node's own TTY stream, set raw 8N1 at a standard speed by the addon
// (addon/serial_line.c): the console's. Loading serialport's driver for it (its JavaScript and
// its own native module) cost an emulated boot 0.1 s; it stays the modem's driver
// (drivers/modem/serial-port.ts), and the console's at a speed termios has no constant for.

import { closeSync, constants, openSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { packetRingAddon } from './nic/packet-link.js';

/**
 * `path` opened and set raw at `baud`, read and written as one stream (Node's TTY stream is a
 * socket, both ways); undefined when `baud` is not a standard speed. Throws when the device
 * cannot be opened or is not a terminal.
 */
export function openRawLine(path: string, baud: number): ReadStream | undefined {
  const fd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
  let raw = false;
  try {
    raw = packetRingAddon().serialLine?.makeRaw(fd, baud) ?? false;
  } finally {
    if (!raw) closeSync(fd);
  }
  return raw ? new ReadStream(fd) : undefined;
}
