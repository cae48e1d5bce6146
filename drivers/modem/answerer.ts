// The Hayes answerer: a modem set up to wait for calls (init strings with auto-answer off,
// ATS0=0), counting RINGs and answering with ATA after the configured number, then waiting for
// CONNECT. While idle it checks now and then that the modem still answers AT, so one that went
// silent is noticed and reset instead of waiting forever. Chat scripts on drivers/modem/modem.ts.

import { command, FLUSH_LINE, type ChatResult } from './chat.js';
import type { Modem } from './modem.js';

export interface AnswerConfig {
  init: readonly string[];
  /** Answer on this RING (1 = the first). */
  rings: number;
  /** From ATA to CONNECT. */
  connectTimeoutMs: number;
  /** How long an idle modem may stay quiet before it is asked AT. */
  idleCheckMs: number;
}

/** RINGs come about every 6 s (a ring cadence of 2 s on, 4 s off); a longer pause is a new call. */
export const RING_GAP_MS = 8000;

export type AnswerFailure =
  /** The modem did not answer AT (switched off, wedged): reset it. */
  | 'modem-silent'
  | 'init-refused'
  /** ATA gave NO CARRIER, BUSY or no CONNECT in time: the caller gave up or the line was bad. */
  | 'no-carrier'
  | 'timeout'
  /** The port closed under us (unplugged), or the answerer was stopped. */
  | 'closed';

export type AnswerOutcome =
  | { kind: 'connected'; connect: string; rest: Uint8Array; rings: number }
  | { kind: 'failed'; code: AnswerFailure; reason: string };

const COMMAND_MS = 5000;

function describe(r: ChatResult, what: string): string {
  if (r.kind === 'abort') return `${what}: ${r.reason}`;
  if (r.kind === 'timeout') return `${what}: no ${r.expecting.join(' or ')} within the timeout`;
  return `${what}: ok`;
}

/** Wakes the modem and runs the init strings: ready to be waited on. */
export async function prepareToAnswer(modem: Modem, config: AnswerConfig): Promise<AnswerOutcome | undefined> {
  const wake = await modem.run([FLUSH_LINE, command('AT', 2000)]);
  if (wake.kind === 'abort' && wake.reason === 'modem closed') return { kind: 'failed', code: 'closed', reason: 'modem closed' };
  if (wake.kind !== 'ok') return { kind: 'failed', code: 'modem-silent', reason: describe(wake, 'modem does not answer AT') };
  const init = await modem.run(config.init.map((s) => command(s, COMMAND_MS)));
  if (init.kind !== 'ok') return { kind: 'failed', code: 'init-refused', reason: describe(init, `init string ${config.init[init.step] ?? ''}`) };
  return undefined;
}

/**
 * Waits for a call and answers it. `stopped()` is asked between waits: a stopping port ends
 * the wait at the next idle check (closing the modem ends it at once).
 */
export async function answer(modem: Modem, config: AnswerConfig, now: () => number, stopped: () => boolean = () => false): Promise<AnswerOutcome> {
  let rings = 0;
  let lastRing = -Infinity;
  while (!stopped()) {
    const wait = rings > 0 ? RING_GAP_MS : config.idleCheckMs;
    const heard = await modem.run([{ expect: ['RING'], timeoutMs: wait }], []);
    if (heard.kind === 'abort') return { kind: 'failed', code: 'closed', reason: heard.reason };
    if (heard.kind === 'timeout') {
      if (rings > 0) {
        rings = 0; // the caller gave up before we answered
        continue;
      }
      const alive = await modem.run([FLUSH_LINE, command('AT', 2000)], []);
      if (alive.kind === 'abort' && alive.reason === 'modem closed') return { kind: 'failed', code: 'closed', reason: 'modem closed' };
      if (alive.kind !== 'ok') return { kind: 'failed', code: 'modem-silent', reason: describe(alive, 'idle modem does not answer AT') };
      continue;
    }
    const t = now();
    rings = t - lastRing > RING_GAP_MS ? 1 : rings + 1;
    lastRing = t;
    if (rings < config.rings) continue;
    const call = await modem.run([{ send: 'ATA', expect: ['CONNECT'], timeoutMs: config.connectTimeoutMs }]);
    if (call.kind === 'ok') return { kind: 'connected', connect: call.matched, rest: call.rest, rings };
    if (call.kind === 'abort' && call.reason === 'modem closed') return { kind: 'failed', code: 'closed', reason: 'modem closed' };
    return { kind: 'failed', code: call.kind === 'timeout' ? 'timeout' : 'no-carrier', reason: describe(call, 'answer') };
  }
  return { kind: 'failed', code: 'closed', reason: 'stopped' };
}
