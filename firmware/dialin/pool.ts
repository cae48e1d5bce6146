// Callers' addresses: a range on the LAN, shared by the answering modems that name it, and the
// fixed addresses of users who have one. An address is handed out once until its call ends.

import { formatIpv4 } from '../core/addr.js';

export class AddressPool {
  /**
   * `reserved`: users' fixed addresses, never handed to others; `taken`: the addresses in use,
   * shared by every pool (a fixed address may lie outside this range).
   */
  constructor(readonly first: number, readonly last: number, private readonly reserved: ReadonlySet<number> = new Set(), private readonly taken = new Set<number>()) {}

  /**
   * An address for a caller: its fixed one if it has one (undefined when that is in use by
   * another call), else the lowest free address of the range that no user holds as fixed.
   */
  take(fixed: number | undefined): number | undefined {
    if (fixed !== undefined) {
      if (this.taken.has(fixed)) return undefined;
      this.taken.add(fixed);
      return fixed;
    }
    for (let a = this.first; a <= this.last; a++) {
      if (this.taken.has(a) || this.reserved.has(a)) continue;
      this.taken.add(a);
      return a;
    }
    return undefined;
  }

  release(address: number): void {
    this.taken.delete(address);
  }

  inUse(): number[] {
    return [...this.taken].filter((a) => a >= this.first && a <= this.last).sort((a, b) => a - b);
  }

  get size(): number {
    return this.last - this.first + 1;
  }

  toString(): string {
    return `${formatIpv4(this.first)}-${formatIpv4(this.last)}`;
  }
}
