// gateway.toml's reader: TOML 1.0 (https://toml.io/en/v1.0.0), keeping the line every key was
// written on so that schema errors can name it. Ours, one pass over the text: on an emulated Pi
// a general-purpose parser cost 0.45 s of the boot, this a tenth of that.

export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

export class TomlError extends Error {
  constructor(readonly line: number, readonly reason: string) {
    super(`line ${line}: ${reason}`);
  }
}

export interface TomlDocument {
  root: TomlTable;
  /** Line of a key by its path: `lan.address`, `portfw[1].to`, `masq.helpers.ftp`; tables by their header. */
  lines: Map<string, number>;
}

/** Arrays and inline tables nest at most this deep: far beyond any real config, far below a stack overflow. */
export const MAX_NESTING = 32;

/** Key names that would reach an object's prototype (`[__proto__]` once wrote into Object.prototype). */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export function parseToml(text: string): TomlDocument {
  return new TomlReader(text).document();
}

export function isTable(v: TomlValue | undefined): v is TomlTable {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * How a table came to be, which decides what may add to it later (TOML 1.0, "Table"):
 * `implicit` (a prefix of a header: a header may still define it), `header` (`[a]` or an
 * element of `[[a]]`), `dotted` (a prefix of a dotted key: only sub-tables may be added by a
 * header), `inline` (`{ … }`: complete as written).
 */
type Origin = 'implicit' | 'header' | 'dotted' | 'inline';

/** Characters of a bare key (TOML 1.0, "Keys"). */
const BARE_KEY = /[A-Za-z0-9_-]/;
/** Characters that make up a number, a boolean, a date or a time. */
const WORD = /[A-Za-z0-9_+\-.:]/;

const DECIMAL = /^[+-]?(0|[1-9](_?[0-9])*)$/;
const PREFIXED = /^0(x[0-9A-Fa-f](_?[0-9A-Fa-f])*|o[0-7](_?[0-7])*|b[01](_?[01])*)$/;
const FLOAT = /^[+-]?(0|[1-9](_?[0-9])*)(\.[0-9](_?[0-9])*)?([eE][+-]?[0-9](_?[0-9])*)?$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME = /^(\d{2}):(\d{2}):(\d{2})(\.\d+)?$/;
const OFFSET = /^(.*?)([Zz]|[+-](\d{2}):(\d{2}))?$/;

const MAX_INTEGER = 2n ** 63n - 1n;

const ESCAPES: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };

class TomlReader {
  private i = 0;
  private line = 1;
  private readonly origins = new WeakMap<TomlTable, Origin>();
  /** Arrays made by `[[a]]`: only these take more elements from headers. */
  private readonly tableArrays = new WeakSet<TomlValue[]>();
  private readonly lines = new Map<string, number>();

  constructor(private readonly text: string) {
    if (text.startsWith('\uFEFF')) this.i = 1; // a byte-order mark, as Windows editors write
  }

  document(): TomlDocument {
    const root = this.table('header');
    let current = root;
    let path = '';
    while (this.i < this.text.length) {
      this.spaces();
      const c = this.text[this.i];
      if (c === '[') {
        [current, path] = this.header(root);
        this.endOfLine('something follows the table header on the same line');
      } else {
        if (c !== '#' && c !== '\n' && c !== '\r' && c !== undefined) this.keyValue(current, path, 0);
        this.endOfLine('something follows the value on the same line');
      }
    }
    return { root, lines: this.lines };
  }

  private fail(reason: string, line = this.line): never {
    throw new TomlError(line, reason);
  }

  private table(origin: Origin): TomlTable {
    const t = Object.create(null) as TomlTable; // no key name can reach Object.prototype's members
    this.origins.set(t, origin);
    return t;
  }

  private note(path: string, line: number): void {
    if (!this.lines.has(path)) this.lines.set(path, line);
  }

  private spaces(): void {
    while (this.text[this.i] === ' ' || this.text[this.i] === '\t') this.i++;
  }

  /** Spaces, a comment, then a newline or the end of the text. */
  private endOfLine(reason: string): void {
    this.spaces();
    if (this.text[this.i] === '#') this.comment();
    if (this.i < this.text.length && !this.newline()) this.fail(reason);
  }

  /** The length of the newline at `at` (LF 1, CRLF 2), or 0. */
  private newlineAt(at = this.i): number {
    return this.text[at] === '\n' ? 1 : this.text.startsWith('\r\n', at) ? 2 : 0;
  }

  /** Steps over a newline, if one is next. */
  private newline(): boolean {
    const n = this.newlineAt();
    this.i += n;
    if (n > 0) this.line++;
    return n > 0;
  }

  private comment(): void {
    for (this.i++; this.i < this.text.length && this.text[this.i] !== '\n'; this.i++) {
      if (isControl(this.text.charCodeAt(this.i)) && this.newlineAt() === 0) this.fail('a control character in a comment');
    }
  }

  /** `[a.b]` or `[[a.b]]`: the table that the following keys go into, and its path. */
  private header(root: TomlTable): [TomlTable, string] {
    const line = this.line;
    const array = this.text.startsWith('[[', this.i);
    this.i += array ? 2 : 1;
    this.spaces();
    const keys = this.key();
    this.spaces();
    if (!this.text.startsWith(array ? ']]' : ']', this.i)) this.fail('unterminated table header (a missing "]")');
    this.i += array ? 2 : 1;
    let t = root;
    let path = '';
    for (const k of keys.slice(0, -1)) {
      path = join(path, k);
      const v = t[k];
      if (v === undefined) t = t[k] = this.table('implicit');
      else if (isTable(v) && this.origins.get(v) !== 'inline') t = v;
      else if (Array.isArray(v) && this.tableArrays.has(v)) {
        t = v[v.length - 1] as TomlTable;
        path = `${path}[${v.length - 1}]`;
      } else this.fail(`${path} is already a value, not a table`);
      this.note(path, line);
    }
    const last = keys[keys.length - 1]!;
    path = join(path, last);
    const v = t[last];
    let table: TomlTable;
    if (array) {
      if (v !== undefined && !(Array.isArray(v) && this.tableArrays.has(v))) this.fail(`[[${path}]]: ${path} is already defined, not as an array of tables`);
      const elements = (v ?? (t[last] = [])) as TomlValue[];
      this.tableArrays.add(elements);
      elements.push((table = this.table('header')));
      this.note(path, line);
      path = `${path}[${elements.length - 1}]`;
    } else if (v === undefined) {
      table = t[last] = this.table('header');
    } else if (isTable(v) && this.origins.get(v) === 'implicit') {
      table = v;
      this.origins.set(v, 'header');
    } else this.fail(`[${path}] defined twice`);
    this.lines.set(path, line);
    return [table, path];
  }

  /** A key, dotted or not (TOML 1.0, "Keys"): its parts. */
  private key(): string[] {
    const keys: string[] = [];
    for (;;) {
      const c = this.text[this.i];
      let name: string;
      if (c === '"' || c === "'") {
        if (this.text.startsWith(c.repeat(3), this.i)) this.fail('a key cannot be a multi-line string');
        name = this.string();
      } else {
        const start = this.i;
        while (this.i < this.text.length && BARE_KEY.test(this.text[this.i]!)) this.i++;
        if (this.i === start) this.fail(c === '=' ? 'a value with no key' : 'not a key (a key is letters, digits, "_" and "-", or quoted)');
        name = this.text.slice(start, this.i);
      }
      if (RESERVED_KEYS.has(name)) this.fail(`"${name}" cannot be a key or table name`);
      keys.push(name);
      this.spaces();
      if (this.text[this.i] !== '.') return keys;
      this.i++;
      this.spaces();
    }
  }

  /** `a.b = value` into `table` (whose path is `path`). */
  private keyValue(table: TomlTable, path: string, depth: number): void {
    const line = this.line;
    const keys = this.key();
    if (this.text[this.i] !== '=') this.fail(this.i >= this.text.length || '\r\n#'.includes(this.text[this.i]!) ? 'a key with no value' : 'something follows the key (a missing "=")');
    this.i++;
    this.spaces();
    let t = table;
    for (const k of keys.slice(0, -1)) {
      path = join(path, k);
      const v = t[k];
      if (v === undefined) t = t[k] = this.table('dotted');
      else if (isTable(v) && (this.origins.get(v) === 'dotted' || this.origins.get(v) === 'implicit')) {
        this.origins.set(v, 'dotted');
        t = v;
      } else this.fail(`${path} defined twice`);
      this.note(path, line);
    }
    const last = keys[keys.length - 1]!;
    path = join(path, last);
    if (t[last] !== undefined) this.fail(`${path} defined twice`);
    this.note(path, line);
    t[last] = this.value(path, depth);
  }

  private value(path: string, depth: number): TomlValue {
    const c = this.text[this.i];
    if (c === '"' || c === "'") return this.string();
    if (c === '[' || c === '{') {
      if (depth >= MAX_NESTING) this.fail(`arrays and inline tables nested more than ${MAX_NESTING} deep`);
      return c === '[' ? this.array(path, depth + 1) : this.inlineTable(path, depth + 1);
    }
    if (c === undefined || c === '\n' || c === '\r' || c === '#') this.fail('a key with no value');
    return this.word();
  }

  /** A boolean, a number, a date or a time. */
  private word(): TomlValue {
    const start = this.i;
    while (this.i < this.text.length && WORD.test(this.text[this.i]!)) this.i++;
    // A date and a time may be separated by a space (TOML 1.0, "Offset Date-Time").
    if (DATE.test(this.text.slice(start, this.i)) && /^ \d{2}:/.test(this.text.slice(this.i, this.i + 4))) {
      for (this.i++; this.i < this.text.length && WORD.test(this.text[this.i]!); this.i++);
    }
    const w = this.text.slice(start, this.i);
    if (w === 'true' || w === 'false') return w === 'true';
    if (/^[+-]?(inf|nan)$/.test(w)) return w.endsWith('nan') ? Number.NaN : w.startsWith('-') ? -Infinity : Infinity;
    if (DECIMAL.test(w) || PREFIXED.test(w)) {
      const digits = w.replaceAll('_', '').replace(/^\+/, '');
      const n = BigInt(digits);
      if (n > MAX_INTEGER || n < -MAX_INTEGER - 1n) this.fail(`${w} does not fit in 64 bits`);
      // Integers too large for a double come out rounded: the schema bounds every key far below.
      return Number(n);
    }
    if (FLOAT.test(w)) return Number(w.replaceAll('_', ''));
    // No key of ours takes a date or a time: kept as written, they fail as a string would.
    if (isDateTime(w)) return w;
    return this.fail(w === '' ? 'not a value (strings need quotes)' : `not a value: ${w.slice(0, 40)} (strings need quotes)`);
  }

  private array(path: string, depth: number): TomlValue[] {
    const line = this.line;
    const elements: TomlValue[] = [];
    this.i++;
    for (;;) {
      this.blanks(line);
      if (this.text[this.i] === ']') break;
      elements.push(this.value(`${path}[${elements.length}]`, depth));
      this.blanks(line);
      if (this.text[this.i] === ',') this.i++;
      else if (this.text[this.i] !== ']') this.fail('expected "," or "]" after an array element');
    }
    this.i++;
    return elements;
  }

  /** Inside an array: spaces, comments and newlines; the end of the text is an unterminated array. */
  private blanks(openedOn: number): void {
    for (;;) {
      this.spaces();
      const c = this.text[this.i];
      if (c === undefined) this.fail('unterminated array (a missing "]")', openedOn);
      if (c === '#') this.comment();
      else if (!this.newline()) return;
    }
  }

  /** `{ a = 1, b.c = 2 }`: on one line, no trailing comma (TOML 1.0, "Inline Table"). */
  private inlineTable(path: string, depth: number): TomlTable {
    const t = this.table('inline');
    this.i++;
    this.spaces();
    if (this.text[this.i] === '}') {
      this.i++;
      return t;
    }
    for (;;) {
      this.keyValue(t, path, depth);
      this.spaces();
      const c = this.text[this.i];
      this.i++;
      if (c === '}') break;
      if (c !== ',') this.fail(c === '\n' || c === '\r' || c === undefined ? 'unterminated inline table (a missing "}"; an inline table stays on one line)' : 'expected "," or "}" in an inline table');
      this.spaces();
    }
    this.seal(t);
    return t;
  }

  /** An inline table and the tables its dotted keys made are complete as written. */
  private seal(t: TomlTable): void {
    this.origins.set(t, 'inline');
    for (const v of Object.values(t)) if (isTable(v) && this.origins.get(v) === 'dotted') this.seal(v);
  }

  /** Any of the four kinds of string (TOML 1.0, "String"). */
  private string(): string {
    const q = this.text[this.i]!;
    const multiLine = this.text.startsWith(q.repeat(3), this.i);
    const close = multiLine ? q.repeat(3) : q;
    const line = this.line;
    this.i += close.length;
    // A newline right after the opening delimiter is not part of the string.
    if (multiLine) this.newline();
    let out = '';
    for (;;) {
      const c = this.text[this.i];
      if (c === undefined || (!multiLine && this.newlineAt() > 0)) this.fail('unterminated string (a missing quote)', line);
      if (this.text.startsWith(close, this.i)) {
        this.i += close.length;
        // Up to two quotes may end a multi-line string just before its delimiter.
        if (multiLine) for (let extra = 0; extra < 2 && this.text[this.i] === q; extra++, this.i++) out += q;
        return out;
      }
      if (c === '\\' && q === '"') {
        out += this.escape(multiLine);
        continue;
      }
      if (this.newline()) {
        out += '\n'; // a CRLF is a newline like any other
        continue;
      }
      if (isControl(c.charCodeAt(0))) this.fail('a control character in a string (write it as an escape, such as \\t)');
      out += c;
      this.i++;
    }
  }

  /** The escape at a backslash in a basic string. */
  private escape(multiLine: boolean): string {
    const e = this.text[this.i + 1] ?? '';
    // A backslash ending a line of a multi-line string removes the newlines and spaces after it.
    if (multiLine) {
      let j = this.i + 1;
      while (this.text[j] === ' ' || this.text[j] === '\t') j++;
      if (this.newlineAt(j) > 0) {
        for (this.i = j; ' \t\r\n'.includes(this.text[this.i] ?? 'x'); this.i++) if (this.text[this.i] === '\n') this.line++;
        return '';
      }
    }
    const simple = ESCAPES[e];
    if (simple !== undefined) {
      this.i += 2;
      return simple;
    }
    const digits = e === 'u' ? 4 : e === 'U' ? 8 : 0;
    const hex = this.text.slice(this.i + 2, this.i + 2 + digits);
    if (digits === 0 || !new RegExp(`^[0-9A-Fa-f]{${digits}}$`).test(hex)) this.fail('bad escape in a string (write \\\\ for a backslash)');
    const cp = Number.parseInt(hex, 16);
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) this.fail(`bad escape \\${e}${hex}: not a Unicode code point (write \\\\ for a backslash)`);
    this.i += 2 + digits;
    return String.fromCodePoint(cp);
  }
}

/** U+0000–U+001F but tab, and U+007F: not allowed raw in comments and strings (TOML 1.0). */
function isControl(code: number): boolean {
  return (code < 0x20 && code !== 0x09) || code === 0x7f;
}

/** `a` + `b` → `a.b`. */
function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** An offset or local date-time, a local date or a local time, with fields in range (RFC 3339). */
function isDateTime(w: string): boolean {
  const [date, time] = DATE.test(w.slice(0, 10)) && w.length > 10 ? [w.slice(0, 10), w.slice(11)] : DATE.test(w) ? [w, undefined] : [undefined, w];
  if (date !== undefined) {
    if (w.length > 10 && !'Tt '.includes(w[10]!)) return false;
    const [, y, m, d] = DATE.exec(date)!.map(Number) as [number, number, number, number];
    const days = [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
    if (days === undefined || d < 1 || d > days) return false;
    if (time === undefined) return true;
  }
  const [, local, , oh, om] = OFFSET.exec(time!)!;
  if (date === undefined && local !== time) return false; // a local time has no offset
  if (oh !== undefined && (Number(oh) > 23 || Number(om) > 59)) return false;
  const t = TIME.exec(local!);
  return t !== null && Number(t[1]) < 24 && Number(t[2]) < 60 && Number(t[3]) <= 60;
}
