// gateway.toml through a maintained TOML 1.0 parser (toml-eslint-parser), keeping where every key
// was written so that schema errors can name the line. Syntax errors carry the parser's line.

import { getStaticTOMLValue, parseTOML, type AST } from 'toml-eslint-parser';

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
  checkNesting(text);
  let ast: AST.TOMLProgram;
  try {
    ast = parseTOML(text);
  } catch (e) {
    const err = e as { lineNumber?: number; message: string };
    // A RangeError (an escape naming no code point) comes without a line: find it.
    if (err.lineNumber === undefined) throw badCodePoint(text) ?? new TomlError(1, `cannot read the file: ${err.message}`);
    throw new TomlError(lineOfError(text, err.lineNumber), friendly(err.message));
  }
  const lines = new Map<string, number>();
  for (const top of ast.body) {
    for (const node of top.body) {
      if (node.type === 'TOMLTable') {
        checkKeys(node.key.keys, node.loc.start.line);
        const path = pathOf(node.resolvedKey);
        lines.set(path, node.loc.start.line);
        for (const kv of node.body) keyLines(kv, path, lines);
      } else {
        keyLines(node, '', lines);
      }
    }
  }
  return { root: plain(getStaticTOMLValue(ast)) as TomlTable, lines };
}

function checkKeys(keys: readonly (AST.TOMLBare | AST.TOMLQuoted)[], line: number): void {
  for (const k of keys) {
    const name = k.type === 'TOMLBare' ? k.name : k.value;
    if (RESERVED_KEYS.has(name)) throw new TomlError(line, `"${name}" cannot be a key or table name`);
  }
}

/**
 * Arrays and inline tables nested deeper than MAX_NESTING are refused before the parser (a
 * recursive one) sees them: thousands of them overflowed its stack. Strings and comments are
 * skipped; a table header's brackets open and close on their own line.
 */
function checkNesting(text: string): void {
  let depth = 0;
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    else if (c === '#') while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    else if (c === '"' || c === "'") i = skipString(text, i, (n) => (line += n));
    else if (c === '[' || c === '{') {
      if (++depth > MAX_NESTING) throw new TomlError(line, `arrays and inline tables nested more than ${MAX_NESTING} deep`);
    } else if (c === ']' || c === '}') depth = Math.max(0, depth - 1);
  }
}

/** Index of a string's closing quote (multi-line strings too); `newlines` counts the lines it spans. */
function skipString(text: string, i: number, newlines: (n: number) => void): number {
  const q = text[i]!;
  const triple = text.startsWith(q.repeat(3), i);
  const close = triple ? q.repeat(3) : q;
  let j = i + close.length;
  while (j < text.length) {
    if (text[j] === '\\' && q === '"') j += 2;
    else if (text.startsWith(close, j)) break;
    else {
      if (text[j] === '\n') {
        if (!triple) break; // unterminated: the parser says so
        newlines(1);
      }
      j++;
    }
  }
  return j + close.length - 1;
}

/** `\uXXXX` and `\UXXXXXXXX` must name a Unicode scalar value (TOML 1.0): the first that does not, with its line. */
function badCodePoint(text: string): TomlError | undefined {
  const lines = text.split('\n');
  for (let l = 0; l < lines.length; l++) {
    for (const m of lines[l]!.matchAll(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})/g)) {
      const cp = Number.parseInt(m[1]!.slice(1), 16);
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return new TomlError(l + 1, `bad escape \\${m[1]}: not a Unicode code point (write \\\\ for a backslash)`);
    }
  }
  return undefined;
}

/** The parser's words, with ours in front for the mistakes people make by hand. */
const FRIENDLY: [RegExp, string][] = [
  [/^Unspecified values/, 'a key with no value'],
  [/^Defining a key multiple times/, 'defined twice'],
  [/^Unterminated table-key/, 'unterminated table header (a missing "]")'],
  [/^Must be a newline/, 'something follows the value on the same line'],
  [/^Unexpected character/, 'not a value (strings need quotes)'],
  [/^Unterminated string/, 'unterminated string (a missing quote)'],
  [/^Unterminated array/, 'unterminated array (a missing "]")'],
  [/escape sequence/, 'bad escape in a string (write \\\\ for a backslash)'],
  [/^Invalid code point/, 'bad escape: not a Unicode code point (TOML allows U+0000 to U+10FFFF)'],
];

function friendly(message: string): string {
  const f = FRIENDLY.find(([re]) => re.test(message));
  return f === undefined ? message : `${f[1]} (${message})`;
}

/**
 * The parser notices an unfinished value where the next token should be, often on the next
 * line: the error belongs to the last line with something on it.
 */
function lineOfError(text: string, line: number): number {
  const lines = text.split('\n');
  let l = Math.min(line, lines.length);
  while (l > 1 && (lines[l - 1] ?? '').trim() === '') l--;
  return l;
}

/** `['portfw', 0, 'to']` → `portfw[0].to`. */
function pathOf(keys: readonly (string | number)[], prefix = ''): string {
  let out = prefix;
  for (const k of keys) out = typeof k === 'number' ? `${out}[${k}]` : out === '' ? k : `${out}.${k}`;
  return out;
}

function keyLines(kv: AST.TOMLKeyValue, prefix: string, lines: Map<string, number>): void {
  const names = kv.key.keys.map((k) => (k.type === 'TOMLBare' ? k.name : k.value));
  const line = kv.loc.start.line;
  checkKeys(kv.key.keys, line);
  // Every prefix of a dotted key names something too (`a.b = 1` defines table `a`).
  for (let i = 1; i <= names.length; i++) {
    const path = pathOf(names.slice(0, i), prefix);
    if (!lines.has(path)) lines.set(path, line);
  }
  if (kv.value.type === 'TOMLInlineTable') {
    for (const inner of kv.value.body) keyLines(inner, pathOf(names, prefix), lines);
  }
}

/**
 * The parser's values as the schema reads them: big integers as numbers (the schema bounds
 * them), dates and times as their TOML text (no key of ours takes one, so they fail as strings
 * would, with a clear message), ±inf and nan as numbers.
 */
function plain(v: unknown): TomlValue {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.toISOString();
  if (v === null) return Number.NaN;
  if (Array.isArray(v)) return v.map(plain);
  // Tables without a prototype: no key name can reach Object.prototype's members.
  if (typeof v === 'object') return Object.assign(Object.create(null) as TomlTable, Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, plain(x)])));
  return v as string | number | boolean;
}

export function isTable(v: TomlValue | undefined): v is TomlTable {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
