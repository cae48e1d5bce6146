// Interface setup through iproute2 and sysctl: what the gateway changes on the host, and undoes.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

export function ip(...args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${(err.stderr ?? err.message).trim()}`);
  }
}

export function sysctl(path: string, value: string): void {
  writeFileSync(`/proc/sys/${path.replace(/\./g, '/')}`, value);
}

export function linkExists(name: string): boolean {
  try {
    ip('link', 'show', 'dev', name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Turns off segmentation and checksum offloads: with them, a veth or NIC hands AF_PACKET
 * 64 KB super-frames, and frames whose TCP/UDP checksum is left for hardware to fill.
 */
export function disableOffloads(dev: string): void {
  for (const feature of ['tx', 'rx', 'tso', 'gso', 'gro', 'sg']) {
    try {
      execFileSync('ethtool', ['-K', dev, feature, 'off'], { stdio: 'ignore' });
    } catch {
      // A driver without that feature, or fixed: nothing to turn off.
    }
  }
}
