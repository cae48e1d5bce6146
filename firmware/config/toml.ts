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

export function parseToml(text: string): TomlDocument {
  let ast: AST.TOMLProgram;
  try {
    ast = parseTOML(text);
  } catch (e) {
    const err = e as { lineNumber?: number; message: string };
    throw new TomlError(lineOfError(text, err.lineNumber ?? 1), friendly(err.message));
  }
  const lines = new Map<string, number>();
  for (const top of ast.body) {
    for (const node of top.body) {
      if (node.type === 'TOMLTable') {
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
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, plain(x)]));
  return v as string | number | boolean;
}

export function isTable(v: TomlValue | undefined): v is TomlTable {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
