// `gateway status` and the console's `status` for people: a few lines from the status document
// (the same one `gateway status --json` prints).

import type { DatapathSnapshot } from '../datapath.js';
import type { MemoryStatus } from '../heap.js';

export interface StatusDocument extends DatapathSnapshot {
  uptimeSeconds: number;
  wan?: { type: string; interface: string; present?: boolean; address: string | null; gateway: string | null; dhcp: { state: string } | null };
  ppp: { state: string; phase: string; device: string | null; lastError: string | null; failure: string | null; modem: { signal?: { dbm?: number }; operator?: string }; ipcp: { localAddress: string; peerAddress: string; dns: string[] } | null } | null;
  leds?: { showing: Record<string, string> };
  watchdog?: { host: string | null; misses: number; ok: boolean | null };
  memory?: MemoryStatus;
}

function duration(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d}d ${h}h${String(m).padStart(2, '0')}m` : h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
}

export function statusText(s: StatusDocument): string {
  const lines: string[] = [`gateway up ${duration(s.uptimeSeconds)}`];
  for (const i of s.interfaces) {
    lines.push(`${i.role === 'inside' ? 'inside ' : 'outside'} ${i.name.padEnd(8)} ${i.up ? 'up  ' : 'down'} ${i.address ?? 'no address'}  mtu ${i.mtu}`);
  }
  if (s.ppp !== null) {
    const p = s.ppp;
    const ip = p.ipcp !== null ? `${p.ipcp.localAddress} peer ${p.ipcp.peerAddress} dns ${p.ipcp.dns.join(' ') || '-'}` : 'no address';
    const modem = [p.modem.signal?.dbm !== undefined ? `${p.modem.signal.dbm} dBm` : '', p.modem.operator ?? ''].filter((x) => x !== '').join(', ');
    lines.push(`WAN ppp: ${p.state} (PPP ${p.phase}) ${ip}${p.device !== null ? `, modem ${p.device}${modem !== '' ? ` ${modem}` : ''}` : ''}`);
    if (p.lastError !== null && p.state !== 'up') lines.push(`  last failure: ${p.failure ?? ''} ${p.lastError}`);
  } else if (s.wan !== undefined) {
    const w = s.wan;
    if (w.present === false) lines.push(`WAN ethernet ${w.interface}: not found (waiting for it to be plugged in)`);
    else lines.push(`WAN ethernet ${w.interface}: ${w.address ?? 'no address'}${w.gateway !== null ? ` via ${w.gateway}` : ''}${w.dhcp !== null ? ` (DHCP ${w.dhcp.state})` : ' (static)'}`);
  }
  if (s.watchdog !== undefined && s.watchdog.host !== null) lines.push(`watchdog ${s.watchdog.host}: ${s.watchdog.ok === null ? 'not yet' : s.watchdog.ok ? 'answering' : `${s.watchdog.misses} missed`}`);
  const c = s.conntrack;
  const drops = Object.values(s.drops).reduce((a, b) => a + b, 0);
  lines.push(`flows ${c.flows} (${c.established} established, ${c.unreplied} unreplied) of ${c.capacity}; forwarded ${s.translations.forwarded}, dropped ${drops}`);
  if (s.memory !== undefined) lines.push(`memory ${s.memory.rssMb} MB resident (JavaScript heap ${s.memory.heapUsedMb} of ${s.memory.heapTotalMb} MB)`);
  if (s.leds !== undefined) lines.push(`LEDs: status ${s.leds.showing['status']}, wan ${s.leds.showing['wan']}, lan ${s.leds.showing['lan']}`);
  return lines.join('\n');
}
