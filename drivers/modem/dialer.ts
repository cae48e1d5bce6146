// The Hayes dialer: wake the modem, run the init strings, unlock the SIM, set the APN, read
// signal and operator for status, then dial and wait for CONNECT. Each part is a chat script;
// what went wrong is classified so the caller knows whether redialling can help.

import { command, FLUSH_LINE, parseCops, parseCpin, parseCsq, type ChatResult } from './chat.js';
import type { Modem } from './modem.js';

export interface DialConfig {
  init: readonly string[];
  dial: string;
  /** SIM PIN, '' for none. Never logged. */
  pin: string;
  /** Cellular APN, '' to leave the modem's PDP context alone. */
  apn: string;
  connectTimeoutMs: number;
}

export interface ModemInfo {
  /** +CSQ, as dBm when known. */
  signal?: { rssi: number; dbm: number | undefined };
  operator?: string;
  sim?: string;
}

/**
 * Why a dial failed, as a code the redial policy and the status LEDs act on; `reason` keeps the
 * modem's own words for people.
 */
export type DialFailure =
  /** The modem said nothing to AT (switched off, wrong port or speed): hang up before retrying. */
  | 'modem-silent'
  | 'init-refused'
  | 'apn-refused'
  | 'busy'
  | 'no-carrier'
  | 'no-dialtone'
  | 'no-answer'
  | 'error'
  /** No CONNECT or answer within the step's timeout: the modem may still be dialling, hang it up. */
  | 'timeout';

/** Failures no redial can fix until someone acts. */
export type DialFatal = 'pin-refused' | 'sim-locked';

export type DialOutcome =
  | { kind: 'connected'; /** The CONNECT line, e.g. "CONNECT 115200". */ connect: string; rest: Uint8Array; info: ModemInfo }
  /** Worth another try later: BUSY, NO CARRIER, NO ANSWER, a modem that did not answer. */
  | { kind: 'failed'; code: DialFailure; reason: string; info: ModemInfo }
  /** Redialling cannot help until someone acts: the SIM PIN was refused, the SIM is blocked. */
  | { kind: 'fatal'; code: DialFatal; reason: string; info: ModemInfo };

const COMMAND_MS = 5000;
const PIN_MS = 15000;

/** The V.250 result code that ended a chat badly, as a failure code; `otherwise` for anything else. */
function failureOf(r: ChatResult, otherwise: DialFailure): DialFailure {
  if (r.kind === 'timeout') return 'timeout';
  if (r.kind !== 'abort') return otherwise;
  const codes: [string, DialFailure][] = [['BUSY', 'busy'], ['NO CARRIER', 'no-carrier'], ['NO DIAL', 'no-dialtone'], ['NO ANSWER', 'no-answer']];
  return codes.find(([text]) => r.reason.startsWith(text))?.[1] ?? otherwise;
}

function describe(r: ChatResult, what: string): string {
  if (r.kind === 'abort') return `${what}: ${r.reason}`;
  if (r.kind === 'timeout') return `${what}: no ${r.expecting.join(' or ')} within the timeout`;
  return `${what}: ok`;
}

/** Quotes a value for an AT string parameter (V.250 §5.4.2.2: no quotes or control characters). */
function atString(value: string): string {
  return `"${value.replace(/["\\\x00-\x1f]/g, '')}"`;
}

export async function dial(modem: Modem, config: DialConfig): Promise<DialOutcome> {
  const info: ModemInfo = {};
  // Wake-up: the empty send flushes a half-typed line; AT must answer before anything else.
  const wake = await modem.run([FLUSH_LINE, command('AT', 2000)]);
  if (wake.kind !== 'ok') return { kind: 'failed', code: 'modem-silent', reason: describe(wake, 'modem does not answer AT'), info };
  const init = await modem.run(config.init.map((s) => command(s, COMMAND_MS)));
  if (init.kind !== 'ok') return { kind: 'failed', code: failureOf(init, 'init-refused'), reason: describe(init, `init string ${config.init[init.step] ?? ''}`), info };

  if (config.pin !== '') {
    const state = await modem.run([command('AT+CPIN?', COMMAND_MS)]);
    info.sim = state.kind === 'ok' ? parseCpin(state.lines) : undefined;
    if (info.sim === 'SIM PIN') {
      const unlock = await modem.run([command(`AT+CPIN=${config.pin}`, PIN_MS)]);
      // A wrong PIN is never retried: three of them block the SIM.
      if (unlock.kind !== 'ok') return { kind: 'fatal', code: 'pin-refused', reason: unlock.kind === 'abort' ? `SIM PIN refused (${unlock.reason})` : 'SIM PIN: no answer', info };
      info.sim = 'READY';
    } else if (info.sim !== undefined && info.sim !== 'READY') {
      return { kind: 'fatal', code: 'sim-locked', reason: `SIM needs ${info.sim}`, info };
    }
  }
  if (config.apn !== '') {
    const apn = await modem.run([command(`AT+CGDCONT=1,"IP",${atString(config.apn)}`, COMMAND_MS)]);
    if (apn.kind !== 'ok') return { kind: 'failed', code: failureOf(apn, 'apn-refused'), reason: describe(apn, 'setting the APN'), info };
  }
  // Signal and operator are information only: a plain dial-up modem answers ERROR.
  const csq = await modem.run([command('AT+CSQ', COMMAND_MS, ['OK', 'ERROR'])], []);
  if (csq.kind === 'ok') info.signal = parseCsq(csq.lines);
  const cops = await modem.run([command('AT+COPS?', COMMAND_MS, ['OK', 'ERROR'])], []);
  if (cops.kind === 'ok') info.operator = parseCops(cops.lines);

  const call = await modem.run([{ send: config.dial, expect: ['CONNECT'], timeoutMs: config.connectTimeoutMs }]);
  if (call.kind === 'ok') return { kind: 'connected', connect: call.matched, rest: call.rest, info };
  return { kind: 'failed', code: failureOf(call, 'error'), reason: describe(call, 'dial'), info };
}
