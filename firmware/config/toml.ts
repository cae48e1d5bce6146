// A TOML reader for gateway.toml that remembers where every key was written, so that schema
// errors can name the line. It covers the TOML 1.0 a config file needs: tables, arrays of tables,
// dotted and quoted keys, basic and literal strings, integers, floats, booleans, arrays (across
// lines) and inline tables. Dates and multi-line strings are refused with a clear error.

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
  /** Line of a key by its path: `lan.address`, `portfw[1].to`; tables by their header. */
  lines: Map<string, number>;
}

const BARE_KEY = /[A-Za-z0-9_-]/;

export function parseToml(text: string): TomlDocument {
  return new Reader(text).document();
}

class Reader {
  private pos = 0;
  private line = 1;
  private readonly root: TomlTable = {};
  private readonly lines = new Map<string, number>();
  /** Tables created by a header or by dotted keys, which a second header may not redefine. */
  private readonly defined = new Set<TomlTable>();
  private readonly arrayTables = new Set<TomlValue[]>();

  constructor(private readonly text: string) {}

  document(): TomlDocument {
    let table = this.root;
    let path = '';
    for (;;) {
      this.skipBlank();
      if (this.pos >= this.text.length) break;
      if (this.peek() === '[') {
        [table, path] = this.header();
      } else {
        this.keyValue(table, path);
      }
      this.endOfLine();
    }
    return { root: this.root, lines: this.lines };
  }

  private fail(reason: string): never {
    throw new TomlError(this.line, reason);
  }

  private peek(): string {
    return this.text[this.pos] ?? '';
  }

  /** Spaces and tabs only. */
  private skipSpace(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }

  private skipComment(): void {
    if (this.peek() !== '#') return;
    while (this.pos < this.text.length && this.peek() !== '\n') this.pos++;
  }

  /** Whitespace, newlines and comments (between statements and inside arrays). */
  private skipBlank(): void {
    for (;;) {
      this.skipSpace();
      this.skipComment();
      if (this.peek() === '\n') {
        this.pos++;
        this.line++;
      } else if (this.peek() === '\r' && this.text[this.pos + 1] === '\n') {
        this.pos += 2;
        this.line++;
      } else {
        return;
      }
    }
  }

  private endOfLine(): void {
    this.skipSpace();
    this.skipComment();
    if (this.pos >= this.text.length) return;
    if (this.peek() === '\r') this.pos++;
    if (this.peek() !== '\n') this.fail(`unexpected "${this.peek()}" after a value (one key = value per line)`);
  }

  private header(): [TomlTable, string] {
    const array = this.text.startsWith('[[', this.pos);
    this.pos += array ? 2 : 1;
    this.skipSpace();
    const keys = this.dottedKey();
    this.skipSpace();
    if (!this.text.startsWith(array ? ']]' : ']', this.pos)) this.fail(`unterminated table header`);
    this.pos += array ? 2 : 1;
    let table = this.root;
    let path = '';
    for (let i = 0; i < keys.length - 1; i++) [table, path] = this.descend(table, path, keys[i]!);
    const last = keys[keys.length - 1]!;
    const here = join(path, last);
    if (array) {
      let list = table[last];
      if (list === undefined) {
        list = [];
        table[last] = list;
        this.arrayTables.add(list);
      } else if (!Array.isArray(list) || !this.arrayTables.has(list)) {
        this.fail(`"${here}" is already defined and is not an array of tables`);
      }
      const t: TomlTable = {};
      list.push(t);
      const at = `${here}[${list.length - 1}]`;
      this.lines.set(at, this.line);
      if (!this.lines.has(here)) this.lines.set(here, this.line);
      return [t, at];
    }
    const existing = table[last];
    if (existing === undefined) {
      const t: TomlTable = {};
      table[last] = t;
      this.defined.add(t);
      this.lines.set(here, this.line);
      return [t, here];
    }
    if (!isTable(existing) || this.defined.has(existing)) this.fail(`table [${here}] is defined twice`);
    this.defined.add(existing);
    this.lines.set(here, this.line);
    return [existing, here];
  }

  /** The table at table[key], created implicitly if absent; through the last element of an array of tables. */
  private descend(table: TomlTable, path: string, key: string): [TomlTable, string] {
    const v = table[key];
    const here = join(path, key);
    if (v === undefined) {
      const t: TomlTable = {};
      table[key] = t;
      return [t, here];
    }
    if (Array.isArray(v) && this.arrayTables.has(v)) {
      const last = v[v.length - 1];
      if (isTable(last)) return [last, `${here}[${v.length - 1}]`];
    }
    if (!isTable(v)) this.fail(`"${here}" is a value, not a table`);
    return [v, here];
  }

  private keyValue(table: TomlTable, path: string): void {
    const line = this.line;
    const keys = this.dottedKey();
    this.skipSpace();
    if (this.peek() !== '=') this.fail(`expected "=" after key "${keys.join('.')}"`);
    this.pos++;
    this.skipSpace();
    let t = table;
    let p = path;
    for (let i = 0; i < keys.length - 1; i++) {
      [t, p] = this.descend(t, p, keys[i]!);
      this.defined.add(t);
    }
    const last = keys[keys.length - 1]!;
    const here = join(p, last);
    if (Object.hasOwn(t, last)) this.fail(`key "${here}" is defined twice`);
    this.lines.set(here, line);
    t[last] = this.value(here);
  }

  private dottedKey(): string[] {
    const keys = [this.simpleKey()];
    for (;;) {
      this.skipSpace();
      if (this.peek() !== '.') return keys;
      this.pos++;
      this.skipSpace();
      keys.push(this.simpleKey());
    }
  }

  private simpleKey(): string {
    const c = this.peek();
    if (c === '"') return this.basicString();
    if (c === "'") return this.literalString();
    const start = this.pos;
    while (BARE_KEY.test(this.peek())) this.pos++;
    if (this.pos === start) this.fail(c === '' || c === '\n' ? 'expected a key' : `unexpected "${c}" where a key was expected`);
    return this.text.slice(start, this.pos);
  }

  private value(path: string): TomlValue {
    const c = this.peek();
    if (c === '"') {
      if (this.text.startsWith('"""', this.pos)) this.fail('multi-line strings are not supported');
      return this.basicString();
    }
    if (c === "'") {
      if (this.text.startsWith("'''", this.pos)) this.fail('multi-line strings are not supported');
      return this.literalString();
    }
    if (c === '[') return this.array(path);
    if (c === '{') return this.inlineTable(path);
    const m = /^[A-Za-z0-9_+\-.:]+/.exec(this.text.slice(this.pos, this.pos + 64));
    if (m === null) this.fail(c === '' || c === '\n' || c === '\r' ? `key "${path}" has no value` : `unexpected "${c}" where a value was expected`);
    const word = m[0];
    this.pos += word.length;
    if (word === 'true') return true;
    if (word === 'false') return false;
    if (/^[+-]?(0|[1-9](_?\d)*)$/.test(word)) return Number(word.replace(/_/g, ''));
    if (/^0x[0-9A-Fa-f](_?[0-9A-Fa-f])*$/.test(word)) return Number.parseInt(word.slice(2).replace(/_/g, ''), 16);
    if (/^[+-]?(0|[1-9](_?\d)*)(\.\d(_?\d)*)?([eE][+-]?\d(_?\d)*)?$/.test(word)) return Number(word.replace(/_/g, ''));
    if (/^\d{4}-\d{2}-\d{2}/.test(word)) this.fail('dates and times are not supported');
    this.fail(`"${word}" is not a value (strings need quotes)`);
  }

  private array(path: string): TomlValue[] {
    const startLine = this.line;
    this.pos++;
    const out: TomlValue[] = [];
    for (;;) {
      this.skipBlank();
      if (this.peek() === ']') break;
      if (this.pos >= this.text.length) throw new TomlError(startLine, `unterminated array "${path}"`);
      const item = `${path}[${out.length}]`;
      this.lines.set(item, this.line);
      out.push(this.value(item));
      this.skipBlank();
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      if (this.pos >= this.text.length) throw new TomlError(startLine, `unterminated array "${path}"`);
      if (this.peek() !== ']') this.fail(`expected "," or "]" in array "${path}"`);
    }
    this.pos++;
    return out;
  }

  private inlineTable(path: string): TomlTable {
    this.pos++;
    const t: TomlTable = {};
    this.skipSpace();
    if (this.peek() === '}') {
      this.pos++;
      return t;
    }
    for (;;) {
      this.skipSpace();
      this.keyValue(t, path);
      this.skipSpace();
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      if (this.peek() === '}') break;
      this.fail(`expected "," or "}" in inline table "${path}"`);
    }
    this.pos++;
    this.defined.add(t);
    return t;
  }

  private basicString(): string {
    this.pos++;
    let out = '';
    for (;;) {
      const c = this.peek();
      if (c === '' || c === '\n') this.fail('unterminated string');
      this.pos++;
      if (c === '"') return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.peek();
      this.pos++;
      const simple: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };
      if (e in simple) {
        out += simple[e];
      } else if (e === 'u' || e === 'U') {
        const n = e === 'u' ? 4 : 8;
        const hex = this.text.slice(this.pos, this.pos + n);
        if (!/^[0-9A-Fa-f]+$/.test(hex) || hex.length !== n) this.fail(`bad \\${e} escape`);
        out += String.fromCodePoint(Number.parseInt(hex, 16));
        this.pos += n;
      } else {
        this.fail(`bad escape "\\${e}" in string`);
      }
    }
  }

  private literalString(): string {
    this.pos++;
    const end = this.text.indexOf("'", this.pos);
    const nl = this.text.indexOf('\n', this.pos);
    if (end < 0 || (nl >= 0 && nl < end)) this.fail('unterminated string');
    const s = this.text.slice(this.pos, end);
    this.pos = end + 1;
    return s;
  }
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

export function isTable(v: TomlValue | undefined): v is TomlTable {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
