// Our TOML reader against a maintained TOML 1.0 parser (toml-eslint-parser, a dev dependency used
// only here): the same values for valid documents, an error for the same invalid ones; hand-made
// corner cases of the spec, then generated documents and mutations of them.

import test from 'ava';
import fc from 'fast-check';
import { getStaticTOMLValue, parseTOML } from 'toml-eslint-parser';
import { parseToml, TomlError, type TomlValue } from '../../firmware/config/toml.js';

type Outcome = { ok: true; value: unknown } | { ok: false };

function reference(text: string): Outcome {
  try {
    return { ok: true, value: normalise(getStaticTOMLValue(parseTOML(text, { tomlVersion: '1.0' }))) };
  } catch {
    return { ok: false };
  }
}

function ours(text: string): Outcome {
  try {
    return { ok: true, value: normalise(parseToml(text).root) };
  } catch (e) {
    if (!(e instanceof TomlError)) throw e; // anything else is a bug
    return { ok: false };
  }
}

/** Both parsers' values in one shape: plain objects, big integers as numbers, dates as text. */
function normalise(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v === null) return Number.NaN; // the reference's nan
  // The reference makes dates and times objects, we keep their text: no key of ours takes one.
  if (typeof v === 'string' && /^(\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2})/.test(v)) return 'date';
  if (Array.isArray(v)) return v.map(normalise);
  if (typeof v === 'object' && ![Object.prototype, null].includes(Object.getPrototypeOf(v) as object | null)) return 'date';
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, normalise(x)]));
  return v;
}

const VALID = [
  'a = 1\nb = -0\nc = +17\nd = 1_000_000\ne = 0xDEAD_beef\nf = 0o755\ng = 0b1101\nh = 9223372036854775807\ni = -9223372036854775808\n',
  'a = 3.1415\nb = -0.01\nc = 5e+22\nd = 1e06\ne = -2E-2\nf = 6.626e-34\ng = 224_617.445_991_228\nh = inf\ni = -inf\nj = nan\nk = +nan\nl = -0.0\n',
  'a = "tab\\there \\"quoted\\" \\\\ \\u00e9 \\U0001F600 \\b\\f\\r\\n"\nb = \'C:\\Users\\nodejs\'\nc = ""\nd = \'\'\n',
  'a = """\nRoses are red\nViolets are blue"""\nb = """\\\n  The quick \\\n\n  brown fox."""\nc = """Here are two quotation marks: "". Simple enough."""\nd = """Here are fifteen quotation marks: ""\\"""\\"""\\"""\\"""\\"."""\ne = """"This," she said, "is just a pointless statement.""""\n',
  "a = '''\nThe first newline is\ntrimmed in raw strings.\n'''\nb = '''I [dw]on't need \\d{2} apples'''\nc = ''''That,' she said, 'is still pointless.''''\nd = '''Here are fifteen apostrophes: '''''''\n".replace("'''''''\n", "''''\n"),
  'a = [ 1, 2, 3 ]\nb = [ "red", "yellow", ]\nc = [ [ 1, 2 ], ["a", \'b\'] ]\nd = [ 0.1, 0.2, 0.5, 1, 2, 5 ]\ne = [\n  1, # one\n  2\n  , 3 # three\n]\nf = []\ng = [ { x = 1 }, { y = [ { z = 2 } ] } ]\n',
  'name = { first = "Tom", last = "Preston-Werner" }\npoint = { x = 1, y = 2 }\nanimal = { type.name = "pug" }\nempty = {}\n',
  '"127.0.0.1" = "value"\n"character encoding" = "value"\n\'key2\' = "value"\n\'quoted "value"\' = "value"\n"" = "blank"\nbare_key-1 = 1\n1234 = "digits"\nsite."google.com" = true\nfruit . color = "yellow"\n3.14159 = "pi"\n',
  '[table-1]\nkey1 = "some string"\n[table-2]\nkey1 = 456\n[dog."tater.man"]\ntype.name = "pug"\n[ j . "ʞ" . \'l\' ]\n[x.y.z.w]\n[x]\n',
  '[fruit]\napple.color = "red"\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true\n',
  '[[products]]\nname = "Hammer"\n[[products]]\n[[products]]\nname = "Nail"\ncolor = "gray"\n',
  '[[fruits]]\nname = "apple"\n[fruits.physical]\ncolor = "red"\n[[fruits.varieties]]\nname = "red delicious"\n[[fruits.varieties]]\nname = "granny smith"\n[[fruits]]\nname = "banana"\n[[fruits.varieties]]\nname = "plantain"\n',
  'apple.type = "fruit"\norange.type = "fruit"\napple.skin = "thin"\norange.skin = "thick"\n',
  '# only a comment\n\n   \t\n# another\r\na = 1\r\nb = """x\r\ny"""\r\n',
  'odt1 = 1979-05-27T07:32:00Z\nodt2 = 1979-05-27T00:32:00-07:00\nodt3 = 1979-05-27T00:32:00.999999+07:00\nodt4 = 1979-05-27 07:32:00Z\nldt = 1979-05-27T07:32:00\nld = 1979-05-27\nlt = 07:32:00\nlt2 = 00:32:00.999999\nleap = 2000-02-29\n',
];

const INVALID = [
  'a = 01\n', 'a = 1__0\n', 'a = _1\n', 'a = 1_\n', 'a = 0x\n', 'a = +0x10\n', 'a = 0X10\n',
  'a = .5\n', 'a = 5.\n', 'a = 1.e5\n', 'a = 03.14\n', 'a = 1e\n', 'a = infinity\n', 'a = NaN\n', 'a = True\n',
  'a = "\\x41"\n', 'a = "\\u12"\n', 'a = "\\uD800"\n', 'a = "\\U00110000"\n', 'a = "a\nb"\n', 'a = \'a\nb\'\n', 'a = "\u0001"\n', 'a = """\u007f"""\n',
  'a = """a""""""\n', "a = '''a''''''\n", 'a = "a" "b"\n', 'a\n', '= 1\n', 'a = \n', 'a = 1 b = 2\n', 'a.b = 1\na = 2\n', 'a = 1\na.b = 2\n',
  'a = [1 2]\n', 'a = [1,,2]\n', 'a = [,]\n', 'a = [1\n', 'a = { b = 1, }\n', 'a = { b = 1\n, c = 2 }\n', 'a = { b = 1, b = 2 }\n', 'a = {\n}\n',
  'a = { b = 1 }\na.c = 2\n', 'a = { b = 1 }\n[a]\n', 'a = { b = 1 }\n[a.c]\n', 'a = [1]\n[[a]]\n', '[[a]]\n[a]\n', '[a]\n[[a]]\n', '[a]\nb = 1\n[a]\n',
  '[a]\nb.c = 1\n[a.b]\n', '[a.b]\nc = 1\n[a]\nb.d = 2\n', '[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n', '[a]\n[a.b]\n[a]\n', '[ a ] ]\n', '[a\n', '[]\n', '[a.]\n', '[.a]\n', '[a..b]\n',
  '[[a]\n', '[[a] ]\n', '"""a""" = 1\n', "'''a''' = 1\n", 'a b = 1\n', 'é = 1\n', '# \u0000 comment\n', 'a = 1\rb = 2\n', 'a = 1979-02-29\n', 'a = 1979-13-01\n', 'a = 07:32:00Z\n',
  'a = 25:00:00\n', 'a = 1979-05-27T07:32\n', 'a = 1979-05-27X07:32:00\n',
];

test('TOML 1.0: the spec\'s corner cases read as the reference reads them', (t) => {
  for (const text of VALID) {
    const [r, o] = [reference(text), ours(text)];
    t.true(r.ok, `the reference reads ${JSON.stringify(text)}`);
    t.deepEqual(o, r, text);
  }
});

test('TOML 1.0: what the spec forbids is an error, a TomlError with a line, as the reference says', (t) => {
  for (const text of INVALID) {
    t.false(reference(text).ok, `the reference refuses ${JSON.stringify(text)}`);
    const e = t.throws(() => parseToml(text), { instanceOf: TomlError }, text);
    t.true(e!.line >= 1 && e!.line <= text.split('\n').length, `${JSON.stringify(text)}: line ${e!.line}`);
  }
});

test('integers beyond 64 bits are errors (TOML 1.0, "Integer"), where the reference lets them through', (t) => {
  for (const text of ['a = 9223372036854775808\n', 'a = -9223372036854775809\n', 'a = 0x1_0000_0000_0000_0000\n']) {
    t.throws(() => parseToml(text), { instanceOf: TomlError, message: /does not fit in 64 bits/ }, text);
  }
});

function tooBig(text: string): boolean {
  try {
    parseToml(text);
    return false;
  } catch (e) {
    return e instanceof TomlError && /does not fit in 64 bits/.test(e.reason);
  }
}

// Generated documents: the pieces people write, in every style TOML allows.
const bareKey = fc.stringMatching(/^[A-Za-z0-9_-]{1,5}$/);
const stringChars = fc.string({ unit: fc.constantFrom('a', 'Z', '0', ' ', '"', "'", '\\', '#', '=', '[', '\t', 'é', '😀', '\n', '\u0001'), maxLength: 8 });
const basic = stringChars.map((s) => `"${s.replace(/[\\"\n\u0001]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\u0001': '\\u0001' })[c]!)}"`);
const literal = stringChars.map((s) => `'${s.replace(/['\n\u0001]/g, '')}'`);
const multiBasic = fc.tuple(fc.constantFrom('', '\n'), stringChars).map(([first, s]) => `"""${first}${s.replace(/\\/g, '\\\\').replace(/"""/g, '""\\"').replace(/\u0001/g, '\\u0001')}x"""`);
const multiLiteral = stringChars.map((s) => `'''${s.replace(/'''/g, "''").replace(/\u0001/g, '')}x'''`);
const key = fc.oneof(bareKey, bareKey, basic.filter((k) => !k.includes('\\n')), literal);
const dottedKey = fc.array(key, { minLength: 1, maxLength: 3 }).chain((ks) => fc.constantFrom('.', ' . ').map((dot) => ks.join(dot)));
const integer = fc.oneof(
  fc.integer().map(String),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
  fc.nat().map((n) => `0x${n.toString(16)}`),
  fc.nat().map((n) => `0o${n.toString(8)}`),
  fc.nat(255).map((n) => `0b${n.toString(2)}`),
  fc.integer({ min: 1000, max: 999_999 }).map((n) => String(n).replace(/(\d)(?=(\d{3})+$)/g, '$1_')),
);
const float = fc.oneof(
  fc.tuple(fc.integer({ min: -999, max: 999 }), fc.nat(999)).map(([i, f]) => `${i}.${f}`),
  fc.tuple(fc.integer({ min: -9, max: 9 }), fc.integer({ min: -30, max: 30 })).map(([m, e]) => `${m}e${e}`),
  fc.constantFrom('inf', '+inf', '-inf', 'nan', '-nan', '0.0', '-0.0', '1_0.0_1'),
);
const scalar = fc.oneof(integer, float, fc.constantFrom('true', 'false'), basic, literal, multiBasic, multiLiteral);
const { value } = fc.letrec<{ value: string; array: string; inline: string }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, scalar, tie('array'), tie('inline')),
  array: fc.tuple(fc.array(tie('value'), { maxLength: 3 }), fc.constantFrom(', ', ',', ',\n  ', ' , # c\n'), fc.boolean()).map(([vs, sep, trailing]) => `[${vs.join(sep)}${trailing && vs.length > 0 ? ',' : ''}]`),
  inline: fc.array(fc.tuple(dottedKey, tie('value').filter((v) => !v.includes('\n'))), { maxLength: 3 }).map((kvs) => `{ ${kvs.map(([k, v]) => `${k} = ${v}`).join(', ')} }`),
}));
const keyValue = fc.tuple(dottedKey, value, fc.constantFrom('', ' # note', '\t#')).map(([k, v, comment]) => `${k} = ${v}${comment}`);
const header = fc.tuple(fc.boolean(), fc.array(key, { minLength: 1, maxLength: 2 })).map(([array, ks]) => (array ? `[[${ks.join('.')}]]` : `[${ks.join('.')}]`));
const section = fc.tuple(header, fc.array(fc.oneof(keyValue, keyValue, fc.constantFrom('', '# comment', '  ')), { maxLength: 4 })).map(([h, lines]) => [h, ...lines].join('\n'));
const documentText = fc.tuple(fc.array(keyValue, { maxLength: 3 }), fc.array(section, { maxLength: 4 }), fc.constantFrom('\n', '\r\n')).map(([top, sections, eol]) => `${[...top, ...sections].join('\n').replace(/\n/g, eol)}\n`);

test('generated documents read as the reference reads them: the same values, or an error for both', (t) => {
  fc.assert(fc.property(documentText, (text) => {
    t.deepEqual(ours(text), reference(text), JSON.stringify(text));
  }), { numRuns: 3000, seed: 1 });
  t.pass();
});

test('documents with one edit (a character gone, added or doubled) too', (t) => {
  const edited = fc.tuple(documentText, fc.nat(), fc.constantFrom('', '[', ']', '{', '}', '"', "'", '=', '.', ',', '#', '\n', ' ', '\\', '0', 'x', '_', '-', '+', ':'), fc.boolean())
    .map(([text, at, insert, remove]) => {
      const i = at % (text.length + 1);
      return text.slice(0, i) + insert + text.slice(remove ? i + 1 : i);
    });
  fc.assert(fc.property(edited, (text) => {
    // A carriage return alone is neither whitespace nor a newline (TOML 1.0, "Spec"); the
    // reference takes it as whitespace. INVALID holds one.
    fc.pre(!/\r(?!\n)/.test(text));
    // An edit can make an integer beyond 64 bits, which the reference takes (test above).
    fc.pre(!tooBig(text));
    t.deepEqual(ours(text), reference(text), JSON.stringify(text));
  }), { numRuns: 5000, seed: 2 });
  t.pass();
});

test('lines: every key, the prefixes of dotted keys, tables by their headers, elements of arrays of tables by index', (t) => {
  const doc = parseToml('a.b.c = 1\n[t]\nx = { y = 2 }\n[[r]]\n[[r]]\nz = [ { w = 3 } ]\n[r.s]\nv = 4\n');
  t.deepEqual(Object.fromEntries(doc.lines), { 'a': 1, 'a.b': 1, 'a.b.c': 1, 't': 2, 't.x': 3, 't.x.y': 3, 'r': 4, 'r[0]': 4, 'r[1]': 5, 'r[1].z': 6, 'r[1].z[0].w': 6, 'r[1].s': 7, 'r[1].s.v': 8 });
});

test('values: tables have no prototype; dates and times stay as written; a byte-order mark (Windows editors write one) is skipped', (t) => {
  t.deepEqual({ ...parseToml('\uFEFFa = 1\n').root }, { a: 1 });
  const { root } = parseToml('when = 1979-05-27T07:32:00Z\n[t]\n');
  t.is(root['when'], '1979-05-27T07:32:00Z');
  t.is(Object.getPrototypeOf(root['t'] as TomlValue), null);
});
