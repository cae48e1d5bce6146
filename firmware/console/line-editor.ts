// A line editor for a dumb serial terminal (VT100 keys): typing, backspace, left/right, home/end,
// Ctrl-A/E/U/K/W, history with up/down, tab completion, Ctrl-C to drop the line; and text printed
// above the line being typed (log lines) without breaking it. Pure: bytes come in, bytes for the
// terminal go out through `write`.

export interface LineEditorOptions {
  write(text: string): void;
  /** The prompt, asked for each time the line is drawn (it says the WAN state). */
  prompt(): string;
  /** Completions of the word being typed: whole words. */
  complete(line: string): string[];
  /** Lines the user entered; 'pending' when the answer comes later (it redraws the prompt then, with printAbove). */
  line(text: string): 'pending' | void;
  /** Don't echo (password entry). */
  secret?: () => boolean;
  historySize?: number;
}

const ESC = '\x1b';
const CLEAR_LINE = '\r\x1b[K';

export class LineEditor {
  private buf = '';
  private cursor = 0;
  private readonly history: string[] = [];
  private historyAt = -1;
  private draft = '';
  private escape = '';
  private lastWasCr = false;

  constructor(private readonly o: LineEditorOptions) {}

  /** Draws the prompt and the line (after start, or after something else used the screen). */
  redraw(): void {
    const shown = this.o.secret?.() ? '' : this.buf;
    this.o.write(`${CLEAR_LINE}${this.o.prompt()}${shown}`);
    const back = shown.length - this.cursor;
    if (back > 0 && !this.o.secret?.()) this.o.write(`${ESC}[${back}D`);
  }

  /** Prints whole lines above the one being typed, then puts it back. */
  printAbove(text: string): void {
    this.o.write(`${CLEAR_LINE}${text.replace(/\r?\n/g, '\r\n')}${text.endsWith('\n') ? '' : '\r\n'}`);
    this.redraw();
  }

  /** Bytes from the terminal. */
  input(data: string): void {
    for (const ch of data) this.key(ch);
  }

  get text(): string {
    return this.buf;
  }

  private key(ch: string): void {
    if (this.escape !== '') return this.escapeKey(ch);
    const wasCr = this.lastWasCr;
    this.lastWasCr = ch === '\r';
    switch (ch) {
      case ESC: this.escape = ESC; return;
      case '\r': return this.enter();
      case '\n': if (!wasCr) this.enter(); return; // CR LF counts once
      case '\x7f': case '\b': return this.backspace();
      case '\t': return this.tab();
      case '\x01': return this.move(0); // Ctrl-A
      case '\x05': return this.move(this.buf.length); // Ctrl-E
      case '\x02': return this.move(this.cursor - 1); // Ctrl-B
      case '\x06': return this.move(this.cursor + 1); // Ctrl-F
      case '\x03': // Ctrl-C: drop the line
        this.o.write('^C\r\n');
        this.buf = '';
        this.cursor = 0;
        return this.redraw();
      case '\x15': return this.edit('', this.buf.slice(this.cursor), 0); // Ctrl-U
      case '\x0b': return this.edit(this.buf.slice(0, this.cursor), '', this.cursor); // Ctrl-K
      case '\x17': { // Ctrl-W: the word before the cursor
        const before = this.buf.slice(0, this.cursor).replace(/\S+\s*$/, '');
        return this.edit(before, this.buf.slice(this.cursor), before.length);
      }
      case '\x0c': // Ctrl-L
        this.o.write(`${ESC}[H${ESC}[2J`);
        return this.redraw();
      default:
        if (ch < ' ') return; // other control characters (noise on the line) are ignored
        this.edit(this.buf.slice(0, this.cursor) + ch, this.buf.slice(this.cursor), this.cursor + 1);
    }
  }

  /** VT100 sequences: ESC [ A..D arrows, ESC [ H/F and ESC [ 1~/4~ home/end, ESC [ 3~ delete. */
  private escapeKey(ch: string): void {
    this.escape += ch;
    const e = this.escape;
    if (e === `${ESC}[` || e === `${ESC}O` || /^\x1b\[[0-9]+$/.test(e)) return;
    this.escape = '';
    const seq = e.slice(2);
    switch (seq) {
      case 'A': return this.recall(1);
      case 'B': return this.recall(-1);
      case 'C': return this.move(this.cursor + 1);
      case 'D': return this.move(this.cursor - 1);
      case 'H': case '1~': case '7~': return this.move(0);
      case 'F': case '4~': case '8~': return this.move(this.buf.length);
      case '3~': return this.edit(this.buf.slice(0, this.cursor), this.buf.slice(this.cursor + 1), this.cursor);
      default: return; // an unknown sequence is swallowed whole
    }
  }

  private enter(): void {
    const line = this.buf;
    this.o.write('\r\n');
    this.buf = '';
    this.cursor = 0;
    this.historyAt = -1;
    if (line.trim() !== '' && !this.o.secret?.() && this.history[0] !== line) {
      this.history.unshift(line);
      if (this.history.length > (this.o.historySize ?? 100)) this.history.pop();
    }
    if (this.o.line(line) !== 'pending') this.redraw();
  }

  private backspace(): void {
    if (this.cursor === 0) return;
    this.edit(this.buf.slice(0, this.cursor - 1), this.buf.slice(this.cursor), this.cursor - 1);
  }

  private tab(): void {
    const before = this.buf.slice(0, this.cursor);
    const word = /\S*$/.exec(before)![0];
    const options = this.o.complete(before);
    if (options.length === 0) return;
    if (options.length === 1) {
      const done = `${options[0]} `;
      return this.edit(before.slice(0, before.length - word.length) + done, this.buf.slice(this.cursor), this.cursor - word.length + done.length);
    }
    // Several: extend to their common prefix, and list them.
    let common = options[0]!;
    for (const o of options) while (!o.startsWith(common)) common = common.slice(0, -1);
    if (common.length > word.length) {
      return this.edit(before.slice(0, before.length - word.length) + common, this.buf.slice(this.cursor), this.cursor - word.length + common.length);
    }
    this.printAbove(options.join('  '));
  }

  private recall(step: number): void {
    const next = this.historyAt + step;
    if (next < -1 || next >= this.history.length) return;
    if (this.historyAt === -1) this.draft = this.buf;
    this.historyAt = next;
    const text = next === -1 ? this.draft : this.history[next]!;
    this.edit(text, '', text.length);
  }

  private move(to: number): void {
    this.cursor = Math.max(0, Math.min(this.buf.length, to));
    this.redraw();
  }

  private edit(before: string, after: string, cursor: number): void {
    const typedAtEnd = after === '' && this.cursor === this.buf.length && before.length === this.buf.length + 1 && before.startsWith(this.buf);
    this.buf = before + after;
    this.cursor = cursor;
    // A character typed at the end is echoed alone: a 9600 bit/s line need not redraw the prompt per key.
    if (typedAtEnd && this.o.secret?.() !== true) this.o.write(before.slice(-1));
    else if (!typedAtEnd || this.o.secret?.() !== true) this.redraw();
  }
}
