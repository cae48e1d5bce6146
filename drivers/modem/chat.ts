// A chat engine in the manner of chat(8): a script of steps, each sending a string and waiting
// for one of the strings it expects, with its own timeout, while abort strings end the script
// at once. Pure: text and `now` come in, actions come out; drivers/modem/modem.ts runs it on a
// serial port. Responses are matched on whole lines, so a command's echo never counts.

/** Final result codes that end a dial or a command badly (Hayes V.250 and 3GPP TS 27.007). */
export const DEFAULT_ABORTS: readonly string[] = ['NO CARRIER', 'BUSY', 'NO DIALTONE', 'NO DIAL TONE', 'NO ANSWER', 'ERROR', '+CME ERROR:', '+CMS ERROR:'];

export interface ChatStep {
  /** Sent first, followed by a carriage return; nothing when undefined. */
  send?: string;
  /** Any of these, at the start of a line, completes the step; none: the step completes at once. */
  expect?: readonly string[];
  timeoutMs: number;
}

export type ChatResult =
  | { kind: 'ok'; /** The line that completed the last step. */ matched: string; /** Every other line received. */ lines: string[]; /** What followed the last match (data after CONNECT). */ rest: Uint8Array }
  | { kind: 'abort'; reason: string; step: number; lines: string[] }
  | { kind: 'timeout'; step: number; expecting: readonly string[]; lines: string[] };

export type ChatAction = { kind: 'send'; text: string } | { kind: 'done'; result: ChatResult };

/** A command step that waits for OK, as init strings do. */
export function command(send: string, timeoutMs = 3000, expect: readonly string[] = ['OK']): ChatStep {
  return { send, expect, timeoutMs };
}

/** A bare carriage return: ends whatever half line the modem has, so the next command is read whole. */
export const FLUSH_LINE: ChatStep = { send: '', timeoutMs: 0 };

/** Longest line kept while waiting: noise without line ends must not grow memory. */
const MAX_LINE = 512;

export class Chat {
  private step = -1;
  private deadline = Infinity;
  private line = '';
  private readonly lines: string[] = [];
  private finished = false;

  constructor(private readonly steps: readonly ChatStep[], private readonly aborts: readonly string[] = DEFAULT_ABORTS) {}

  get done(): boolean {
    return this.finished;
  }

  /** Starts the script: the actions to take now (a send, or done for an empty script). */
  start(now: number): ChatAction[] {
    return this.advance(now, new Uint8Array(0));
  }

  /** Bytes from the modem. */
  receive(now: number, b: Uint8Array): ChatAction[] {
    if (this.finished) return [];
    for (let i = 0; i < b.length; i++) {
      const c = b[i]!;
      if (c !== 0x0d && c !== 0x0a) {
        if (this.line.length < MAX_LINE) this.line += String.fromCharCode(c);
        continue;
      }
      const line = this.line.trim();
      this.line = '';
      if (line === '') continue;
      const abort = this.aborts.find((a) => line.startsWith(a));
      if (abort !== undefined) return this.finish({ kind: 'abort', reason: line, step: this.step, lines: this.lines });
      const expect = this.steps[this.step]?.expect ?? [];
      // The rest starts after the line's end: CR LF counts as one.
      const next = c === 0x0d && b[i + 1] === 0x0a ? i + 2 : i + 1;
      if (expect.some((e) => line.startsWith(e))) return this.advance(now, b.subarray(next), line);
      this.lines.push(line);
    }
    return [];
  }

  tick(now: number): ChatAction[] {
    if (this.finished || now < this.deadline) return [];
    return this.finish({ kind: 'timeout', step: this.step, expecting: this.steps[this.step]?.expect ?? [], lines: this.lines });
  }

  /** Moves to the next step; `rest` is what came after the line that completed this one. */
  private advance(now: number, rest: Uint8Array, matched = ''): ChatAction[] {
    const actions: ChatAction[] = [];
    for (;;) {
      this.step++;
      const step = this.steps[this.step];
      if (step === undefined) return [...actions, ...this.finish({ kind: 'ok', matched, lines: this.lines, rest: rest.slice() })];
      if (step.send !== undefined) actions.push({ kind: 'send', text: `${step.send}\r` });
      if (step.expect !== undefined && step.expect.length > 0) {
        this.deadline = now + step.timeoutMs;
        // Replies already received (rare: a modem that answers before the next command) count.
        return rest.length > 0 ? [...actions, ...this.receive(now, rest)] : actions;
      }
    }
  }

  private finish(result: ChatResult): ChatAction[] {
    this.finished = true;
    this.deadline = Infinity;
    return [{ kind: 'done', result }];
  }
}

/** +CSQ: rssi,ber → dBm (3GPP TS 27.007 §8.5: 0 is -113 dBm or less, 31 is -51 or more, 99 unknown). */
export function parseCsq(lines: readonly string[]): { rssi: number; dbm: number | undefined } | undefined {
  const m = lines.map((l) => /^\+CSQ:\s*(\d+)\s*,\s*(\d+)/.exec(l)).find((x) => x !== null);
  if (m === undefined) return undefined;
  const rssi = Number(m[1]);
  return { rssi, dbm: rssi <= 31 ? -113 + 2 * rssi : undefined };
}

/** +COPS: mode[,format,"operator"[,act]] → the operator's name (TS 27.007 §7.3). */
export function parseCops(lines: readonly string[]): string | undefined {
  const m = lines.map((l) => /^\+COPS:\s*\d+\s*,\s*\d+\s*,\s*"([^"]*)"/.exec(l)).find((x) => x !== null);
  return m?.[1];
}

/** +CPIN: READY | SIM PIN | SIM PUK | ... (TS 27.007 §8.3). */
export function parseCpin(lines: readonly string[]): string | undefined {
  const m = lines.map((l) => /^\+CPIN:\s*(.+)$/.exec(l)).find((x) => x !== null);
  return m?.[1]?.trim();
}
