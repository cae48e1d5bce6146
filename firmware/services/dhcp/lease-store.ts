// The WAN's DHCP lease on disk, so that after a crash or a power cut the gateway asks for the
// same address again (INIT-REBOOT, RFC 2131 §3.2). Written atomically: a temporary file,
// fsync, rename, fsync of the folder; a reader sees the old lease or the new one, never half.
// A damaged file is reported and moved aside, never fatal.

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DhcpLease } from './client.js';

export type LeaseProblem = { event: 'lease_file_damaged' | 'lease_file_unwritable'; file: string; error: string };

const FIELDS: (keyof DhcpLease)[] = ['address', 'prefixLength', 'server', 'obtainedAt', 'leaseSeconds', 't1Seconds', 't2Seconds'];

export class LeaseStore {
  readonly file: string;

  constructor(stateDir: string, iface: string, private readonly problem: (p: LeaseProblem) => void) {
    this.file = join(stateDir, `dhcp-${iface}.json`);
  }

  load(): DhcpLease | undefined {
    if (!existsSync(this.file)) return undefined;
    try {
      const lease = JSON.parse(readFileSync(this.file, 'utf8')) as DhcpLease;
      const bad = FIELDS.find((k) => typeof lease[k] !== 'number') ?? (Array.isArray(lease.dns) ? undefined : 'dns');
      if (bad !== undefined) throw new Error(`field ${bad} is missing or not a number`);
      return lease;
    } catch (e) {
      const aside = `${this.file}.damaged`;
      this.problem({ event: 'lease_file_damaged', file: this.file, error: `${(e as Error).message}; moved to ${aside}` });
      try {
        renameSync(this.file, aside);
      } catch {
        // Nothing more to do: the next save replaces it.
      }
      return undefined;
    }
  }

  /** Saves the lease, or removes the file (undefined: released). */
  save(lease: DhcpLease | undefined): void {
    try {
      if (lease === undefined) return rmSync(this.file, { force: true });
      writeAtomically(this.file, JSON.stringify(lease));
    } catch (e) {
      this.problem({ event: 'lease_file_unwritable', file: this.file, error: (e as Error).message });
    }
  }
}

/**
 * Write, fsync, rename over the old file, fsync the folder: the file is whole after a power cut.
 * `durable` false skips the fsyncs: whole after the process dies, not after a power cut (for
 * files on tmpfs, and where each fsync would cost a slow card a tenth of a second).
 */
export function writeAtomically(file: string, text: string, durable = true): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  if (!durable) return;
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
