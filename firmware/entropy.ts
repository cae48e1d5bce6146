// Randomness and secret comparison without Node's crypto module: the kernel's random pool read
// directly, and a comparison whose time does not depend on the secret. Loading node:crypto
// (for these few calls) cost the gateway 3 MB resident and 0.15 s of an emulated boot.

import { openSync, readSync } from 'node:fs';

let urandom: number | undefined;

/** Fills `array` from /dev/urandom (the kernel's CSPRNG, as getrandom(2) would). */
export function randomFill<T extends ArrayBufferView>(array: T): T {
  urandom ??= openSync('/dev/urandom', 'r');
  const view = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  for (let done = 0; done < view.length;) done += readSync(urandom, view, done, view.length - done, null);
  return array;
}

export function randomBytes(n: number): Uint8Array {
  return randomFill(new Uint8Array(n));
}

const pool = new Uint32Array(1024);
let drawn = pool.length;

/** A random 32-bit word, from a pool read in blocks (ports and hash keys, RFC 6056; DNS ids). */
export function randomUint32(): number {
  if (drawn === pool.length) {
    randomFill(pool);
    drawn = 0;
  }
  return pool[drawn++]!;
}

/** A uniform integer in [min, max) (max − min at most 2³²), by rejection as crypto.randomInt does. */
export function randomInt(min: number, max: number): number {
  const range = max - min;
  if (!Number.isInteger(range) || range < 1 || range > 2 ** 32) throw new RangeError(`randomInt: bad range [${min}, ${max})`);
  const limit = 2 ** 32 - (2 ** 32 % range);
  let r: number;
  do r = randomUint32(); while (r >= limit);
  return min + (r % range);
}

/**
 * Whether `given` is `secret`, in a time that depends on the length of `given` (the caller's
 * own input) and never on where they differ or on the secret's length.
 */
export function sameSecret(given: string, secret: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(secret);
  const n = Math.max(b.length, 1);
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ (b[i % n] ?? 0);
  return diff === 0;
}
