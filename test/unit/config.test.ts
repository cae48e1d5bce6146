// gateway.toml: the TOML reader with line numbers, the schema with defaults, the key table against
// README, the checks `gateway run` relies on, and `gateway check`.

import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { formatIpv4, formatPrefix } from '../../firmware/core/addr.js';
import { ARRAY_SECTIONS, KEYS, renderKeyTable } from '../../firmware/config/keys.js';
import { parseIpv4 } from '../../firmware/core/addr.js';
import { formatConfigError, parseConfig, type ConfigError } from '../../firmware/config/schema.js';
import { parseToml, TomlError } from '../../firmware/config/toml.js';

const DESIGN_EXAMPLE = `
[lan]
interface = "eth0"
address = "192.168.0.1/24"

[wan]
type = "ppp"               # "ppp" or "ethernet"

[modem]
device = "auto"            # or "/dev/ttyUSB0", "/dev/ttyAMA0", a pty path
baud = 115200
init = ["ATZ"]
dial = "ATDT5551234"       # cellular: "ATD*99#" plus an APN in init
pin = ""                   # SIM PIN, cellular only

[ppp]
user = "gateway"
password = "s3cret"
persist = true             # redial forever, with back-off

[masq]
tcp_timeout = 7200
tcp_fin_timeout = 10
udp_timeout = 160
ports = "61000-65095"
helpers = { ftp = [21], irc = [6667] }

[[portfw]]
protocol = "tcp"
port = 8080
to = "192.168.0.10:80"
`;

function errorsOf(text: string): ConfigError[] {
  const r = parseConfig(text);
  if (r.ok) throw new Error('expected errors');
  return r.errors;
}

test('TOML: tables, arrays of tables, inline tables, strings, numbers, comments, and where each key was', (t) => {
  const doc = parseToml('# top\na = 1\nb = "x#y\\t" # comment\n[s]\nc = [1, 2,\n  3]\nd = { e = true, f = \'lit\\\\\' }\n[[r]]\ng = 0x10\n[[r]]\ng = 1_000\nh.i = 2.5\n');
  t.deepEqual(doc.root, { a: 1, b: 'x#y\t', s: { c: [1, 2, 3], d: { e: true, f: 'lit\\\\' } }, r: [{ g: 16 }, { g: 1000, h: { i: 2.5 } }] });
  t.is(doc.lines.get('b'), 3);
  t.is(doc.lines.get('s.c'), 5);
  t.is(doc.lines.get('s.d.f'), 7);
  t.is(doc.lines.get('r[1].g'), 11);
  t.is(doc.lines.get('r[1].h.i'), 12);
});

test('TOML syntax errors name their line and never throw anything else', (t) => {
  const cases: [string, number, RegExp][] = [
    ['a = 1\nb = \n', 2, /no value/],
    ['[lan\n', 1, /unterminated table header/],
    ['a = "open\n', 1, /unterminated string/],
    ['a = 1\na = 2\n', 2, /defined twice/],
    ['[x]\n[x]\n', 2, /defined twice/],
    ['a = 1 2\n', 1, /follows the value/],
    ['a = bare\n', 1, /not a value/],
    ['a = [1, 2\n', 1, /unterminated array/],
    ['a = "\\q"\n', 1, /bad escape/],
  ];
  for (const [text, line, re] of cases) {
    const e = t.throws(() => parseToml(text), { instanceOf: TomlError }, text);
    t.is(e!.line, line, text);
    t.regex(e!.reason, re, text);
  }
});

test('DESIGN.md\'s example config is valid, and defaults fill what it leaves out', (t) => {
  const r = parseConfig(DESIGN_EXAMPLE);
  if (!r.ok) return t.fail(JSON.stringify(r.errors));
  const c = r.config;
  t.is(c.wan.type, 'ppp');
  t.is(formatPrefix(c.lan.address), '192.168.0.1/24');
  t.deepEqual(c.masq.ports, { first: 61000, last: 65095 }, 'as the file says');
  t.is(c.masq.maxFlows, 65536);
  t.deepEqual(c.masq.helpers, { ftp: [21], irc: [6667] });
  t.deepEqual(c.portfw.map((p) => [p.protocol, p.firstPort, p.lastPort, formatIpv4(p.toAddress), p.toPort]), [['tcp', 8080, 8080, '192.168.0.10', 80]]);
  t.is(c.ppp.password, 's3cret');
  t.like(c.modem, { device: 'auto', baud: 115200, dial: 'ATDT5551234', apn: '', flowControl: 'rtscts', connectTimeout: 60 });
  t.like(c.ppp, { persist: true, holdoff: 5, maxBackoff: 300, maxfail: 0, authRetry: 300, lcpEchoInterval: 30, lcpEchoFailure: 4 });
  t.is(c.log.level, 'info');
  t.is(c.driver.packetRing, 'v2');
});

test('[modem] and [ppp] keys: a cellular setup parses; out-of-range values are errors with their lines', (t) => {
  const ok = parseConfig('[wan]\ntype = "ppp"\n[modem]\ndevice = "/dev/ttyUSB2"\ndial = "ATD*99#"\napn = "internet"\npin = "1234"\nflow_control = "none"\n[ppp]\nholdoff = 2\nmax_backoff = 60\nauth_retry = 600\n');
  if (!ok.ok) return t.fail(JSON.stringify(ok.errors));
  t.like(ok.config.modem, { device: '/dev/ttyUSB2', apn: 'internet', pin: '1234', flowControl: 'none' });
  t.is(ok.config.modem.carrier, 'none', 'no RTS/CTS: no DCD either, unless carrier says so');
  const dcd = (extra: string) => {
    const r = parseConfig(`[wan]\ntype = "ppp"\n[modem]\n${extra}`);
    return r.ok ? r.config.modem.carrier : r.errors.map((e) => e.message).join();
  };
  t.is(dcd(''), 'dcd');
  t.is(dcd('flow_control = "none"\ncarrier = "dcd"\n'), 'dcd');
  t.is(dcd('carrier = "none"\n'), 'none');
  t.regex(dcd('carrier = "cd"\n'), /must be one of "dcd", "none"/);
  t.like(ok.config.ppp, { holdoff: 2, maxBackoff: 60, authRetry: 600 });
  const bad = parseConfig('[wan]\ntype = "ppp"\n[modem]\nbaud = 12\nconnect_timeout = 0\n[ppp]\nholdoff = 0\nauth_retry = "soon"\n');
  t.false(bad.ok);
  if (bad.ok) return;
  t.deepEqual(bad.errors.map((e) => [e.line, e.key]), [[4, 'modem.baud'], [5, 'modem.connect_timeout'], [7, 'ppp.holdoff'], [8, 'ppp.auth_retry']]);
});

test('an Ethernet WAN: static with a gateway, or DHCP by default', (t) => {
  const s = parseConfig('[wan]\ntype = "ethernet"\ninterface = "eth1"\naddress = "203.0.113.2/24"\ngateway = "203.0.113.1"\nmtu = 1492\n');
  if (!s.ok) return t.fail(JSON.stringify(s.errors));
  t.is(s.config.wan.address === 'dhcp' ? 'dhcp' : formatPrefix(s.config.wan.address), '203.0.113.2/24');
  t.is(formatIpv4(s.config.wan.gateway!), '203.0.113.1');
  t.is(s.config.wan.mtu, 1492);
  const d = parseConfig('[wan]\ntype = "ethernet"\n');
  t.true(d.ok && d.config.wan.address === 'dhcp' && d.config.wan.interface === 'eth1');
});

test('schema errors: every one reported, each with its line and key', (t) => {
  const errors = errorsOf('[wan]\ntype = "ethernt"\naddress = "dhcpp"\nfoo = 1\n\n[masq]\nports = "70000-80000"\nudp_timeout = "160"\n\n[[portfw]]\nprotocol = "sctp"\nport = 80\nto = "192.168.0.10"\n\n[nope]\n');
  const got = errors.map((e) => [e.line, e.key]);
  for (const want of [[2, 'wan.type'], [3, 'wan.address'], [4, 'wan.foo'], [7, 'masq.ports'], [8, 'masq.udp_timeout'], [11, 'portfw[0].protocol'], [13, 'portfw[0].to'], [15, 'nope']]) {
    t.true(got.some(([l, k]) => l === want[0] && k === want[1]), `missing ${JSON.stringify(want)} in ${JSON.stringify(got)}`);
  }
});

test('semantic errors: a static address without a gateway, overlapping forwards, a missing wan type', (t) => {
  t.true(errorsOf('[wan]\ntype = "ethernet"\naddress = "203.0.113.2/24"\n').some((e) => e.key === 'wan.address' && /gateway/.test(e.message)));
  const overlap = errorsOf('[wan]\ntype = "ethernet"\n[[portfw]]\nprotocol = "tcp"\nport = "8000-8100"\nto = "192.168.0.2:8000"\n[[portfw]]\nprotocol = "tcp"\nport = 8080\nto = "192.168.0.3:80"\n');
  t.deepEqual(overlap.map((e) => [e.line, e.key]), [[9, 'portfw[1].port']]);
  t.true(errorsOf('[lan]\ninterface = "eth0"\n').some((e) => e.key === 'wan'));
  const outside = errorsOf('[wan]\ntype = "ethernet"\n[[portfw]]\nprotocol = "udp"\nport = 53\nto = "10.0.0.5:53"\n');
  t.deepEqual(outside.map((e) => [e.line, e.key, e.message]), [[6, 'portfw[0].to', '10.0.0.5 is not on the LAN (192.168.0.1/24)']]);
});

const REPO = resolve(import.meta.dirname, '../../..');
const gateway = (args: string[]): { code: number; out: string; err: string } => {
  try {
    const out = execFileSync(join(REPO, 'node_modules/.bin/node'), [join(REPO, 'dist/firmware/main.js'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, out, err: '' };
  } catch (e) {
    const x = e as { status: number; stdout: string; stderr: string };
    return { code: x.status, out: x.stdout, err: x.stderr };
  }
};

test('gateway check: ok for a good file; for a broken one every error with file:line and a non-zero status', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gwcheck-'));
  const good = join(dir, 'good.toml');
  writeFileSync(good, DESIGN_EXAMPLE);
  const ok = gateway(['check', '--config', good]);
  t.is(ok.code, 0, ok.err);
  t.regex(ok.out, /ok/);
  const bad = join(dir, 'bad.toml');
  writeFileSync(bad, '[lan]\naddress = "192.168.0.1/33"\n[wan]\ntype = "ethernet"\nmtu = 20\n');
  const r = gateway(['check', '--config', bad]);
  t.is(r.code, 1);
  t.regex(r.err, new RegExp(`${bad.replace(/[.]/g, '\\.')}:2: lan\\.address: `));
  t.regex(r.err, /:5: wan\.mtu: must be an integer from 576 to 9000/);
  t.regex(r.err, /2 errors; nothing started/);
  t.notRegex(r.err, /s3cret/);
});

test('gateway run with a broken config starts nothing and exits non-zero', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gwrun-'));
  const bad = join(dir, 'bad.toml');
  writeFileSync(bad, '[wan]\ntype = "ethernet"\naddress = "dhcp"\n[lan]\ninterface = 7\n');
  const r = gateway(['run', '--config', bad, '--control', join(dir, 'c.sock'), '--state-dir', dir]);
  t.is(r.code, 1);
  t.regex(r.err, /:5: lan\.interface: must be a string/);
  t.is(r.out, '', 'no log line: nothing was started');
  t.is(gateway(['check', '--config', join(dir, 'missing.toml')]).code, 1);
  t.is(gateway(['frobnicate']).code, 2);
});

test('README\'s key table is the key table: every key, its default and its meaning', (t) => {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', '..', 'README.md'), 'utf8');
  const start = readme.indexOf('| key | default | meaning |');
  t.true(start >= 0, 'README has the key table');
  const lines = readme.slice(start).split("\n");
  const table = lines.slice(0, lines.findIndex((l) => !l.startsWith("|"))).join("\n");
  t.is(table, renderKeyTable());
  // And the validator knows exactly these keys.
  for (const k of KEYS) {
    const text = ARRAY_SECTIONS.has(k.section) ? `[[${k.section}]]\n${k.key} = 1\n` : `[${k.section}]\n${k.key} = []\n`;
    const r = parseConfig(`[wan]\ntype = "ethernet"\n${text}`);
    t.false(!r.ok && r.errors.some((e) => /unknown key/.test(e.message)), `${k.section}.${k.key} is known`);
  }
});

test('mistakes `gateway run` would meet on the host are config errors, with their lines', (t) => {
  const cases: [string, string, number, RegExp][] = [
    ['[lan]\ninterface = "eth0"\n[wan]\ntype = "ethernet"\ninterface = "eth0"\n', 'wan.interface', 5, /already the LAN port/],
    ['[lan]\naddress = "192.168.0.0/24"\n[wan]\ntype = "ppp"\n', 'lan.address', 2, /network's own address/],
    ['[lan]\naddress = "192.168.0.255/24"\n[wan]\ntype = "ppp"\n', 'lan.address', 2, /broadcast address/],
    ['[wan]\ntype = "ethernet"\naddress = "192.168.0.7/24"\ngateway = "192.168.0.254"\n', 'wan.address', 3, /overlaps the LAN/],
    ['[wan]\ntype = "ethernet"\naddress = "10.0.0.0/8"\ngateway = "10.0.0.1"\n', 'wan.address', 3, /network's own address/],
    ['[wan]\ntype = "ethernet"\naddress = "203.0.113.2/24"\ngateway = "198.51.100.1"\n', 'wan.gateway', 4, /not on the WAN's network 203\.0\.113\.0\/24/],
    ['[wan]\ntype = "ethernet"\naddress = "203.0.113.2/24"\ngateway = "203.0.113.2"\n', 'wan.gateway', 4, /own WAN address/],
    ['[wan]\ntype = "ppp"\n[[portfw]]\nprotocol = "tcp"\nport = 80\nto = "10.1.2.3:80"\n', 'portfw[0].to', 6, /not on the LAN/],
    ['[wan]\ntype = "ppp"\n[[portfw]]\nprotocol = "tcp"\nport = 80\nto = "192.168.0.1:80"\n', 'portfw[0].to', 6, /gateway's own LAN address/],
    ['[wan]\ntype = "ppp"\n[[portfw]]\nprotocol = "udp"\nport = 80\nto = "192.168.0.255:80"\n', 'portfw[0].to', 6, /not a host address/],
  ];
  for (const [text, key, line, re] of cases) {
    const errors = errorsOf(text);
    const e = errors.find((x) => x.key === key);
    t.truthy(e, `${key} in ${JSON.stringify(errors)}`);
    if (e === undefined) continue;
    t.regex(e.message, re);
    t.is(e.line, line, `${key} names its line`);
  }
  t.true(parseConfig('[wan]\ntype = "ethernet"\naddress = "203.0.113.2/24"\ngateway = "203.0.113.1"\n').ok);
});

test('a date where a string belongs is an error on its line', (t) => {
  t.deepEqual(errorsOf('[wan]\ntype = "ethernet"\naddress = 1979-05-27\n').map((e) => [e.line, e.key]), [[3, 'wan.address']]);
});

test('hostile configs: no key name reaches a prototype; bad code points, deep nesting and odd interface names are errors on their lines, never a stack trace', (t) => {
  const errorsOf = (text: string): string[] => {
    const r = parseConfig(text);
    return r.ok ? [] : r.errors.map((e) => formatConfigError('gateway.toml', e));
  };
  // [__proto__] once wrote into Object.prototype: type = "ethernet" appeared on every object.
  t.deepEqual(errorsOf('[__proto__]\ntype = "ethernet"\n'), ['gateway.toml:1: "__proto__" cannot be a key or table name']);
  t.deepEqual(errorsOf('[lan]\n__proto__ = { interface = "wan0" }\n'), ['gateway.toml:2: "__proto__" cannot be a key or table name']);
  t.deepEqual(errorsOf('[wan]\ntype = "ethernet"\n"__proto__".interface = "wan0"\n'), ['gateway.toml:3: "__proto__" cannot be a key or table name']);
  t.is(({} as Record<string, unknown>)['type'], undefined, 'Object.prototype untouched');
  const ok = parseConfig('[wan]\ntype = "ethernet"\n[masq]\nhelpers = { constructor = [21] }\n');
  t.false(ok.ok, 'constructor is refused too');
  // A code point above U+10FFFF threw a RangeError.
  for (const escape of ['\\U00110000', '\\uD800', '\\UFFFFFFFF']) {
    const errors = errorsOf(`[wan]\ntype = "ethernet"\n[modem]\napn = "${escape}"\n`);
    t.is(errors.length, 1, escape);
    t.regex(errors[0]!, /^gateway\.toml:4: bad escape/, escape);
  }
  // Thousands of nested inline tables or arrays overflowed the parser's stack.
  t.deepEqual(errorsOf(`[wan]\ntype = "ethernet"\nx = ${'{ a = '.repeat(2000)}1${' }'.repeat(2000)}\n`), ['gateway.toml:3: arrays and inline tables nested more than 32 deep']);
  t.deepEqual(errorsOf(`[wan]\ntype = "ethernet"\nx = ${'['.repeat(3500)}${']'.repeat(3500)}\n`), ['gateway.toml:3: arrays and inline tables nested more than 32 deep']);
  t.deepEqual(errorsOf('[wan]\ntype = "ethernet"\n[modem]\ninit = ["AT[[[[", "{{{{"] # [[[[ {{{{\n'), [], 'brackets in strings and comments do not count');
  // Control characters and line separators never break the one-line FILE:LINE: format.
  for (const [raw, shown] of [['\\n', '\\u000a'], ['\\r', '\\u000d'], ['\\u2028', '\\u2028']]) {
    const [e] = errorsOf(`[wan]\ntype = "ethernet"\n[log]\nlevel = "a${raw}b"\n`);
    t.is(e, `gateway.toml:4: log.level: must be one of "trace", "debug", "info", "warn", "error", not "a${shown}b"`);
  }
  // Interface names Linux would refuse.
  for (const bad of ['', 'a-very-long-name0', 'eth 0', 'eth/0', 'eth:0', '..', 'eth\\u00010']) {
    const [e] = errorsOf(`[lan]\ninterface = "${bad}"\n[wan]\ntype = "ethernet"\n`);
    t.regex(e ?? '', /^gateway\.toml:2: lan\.interface: ".*" cannot be a network interface's name/, JSON.stringify(bad));
    t.notRegex(e ?? '', /[\u0000-\u001f]/);
  }
  t.deepEqual(errorsOf('[lan]\ninterface = "enx00e04c680001"\n[wan]\ntype = "ethernet"\ninterface = "wwan0"\n'), [], '15 characters is fine');
});

test('[masq] helpers names the helpers the gateway has (an unknown one is an error with its line); [[trigger]] rules parse', (t) => {
  const ok = parseConfig('[wan]\ntype = "ethernet"\n[masq]\nhelpers = { ftp = [21, 2121], irc = [], tftp = [69], quake = [26000, 27000, 27910, 27960], raudio = [7070], cuseeme = [7648], vdolive = [7000] }\n');
  t.true(ok.ok);
  if (ok.ok) t.deepEqual(Object.keys(ok.config.masq.helpers), ['ftp', 'irc', 'tftp', 'quake', 'raudio', 'cuseeme', 'vdolive']);
  const bad = errorsOf('[wan]\ntype = "ethernet"\n[masq]\nhelpers = { ftp = [21], gopher = [70] }\n');
  t.is(bad.length, 1);
  t.regex(formatConfigError('gateway.toml', bad[0]!), /^gateway\.toml:4: masq\.helpers\.gopher: unknown helper \(known: ftp, irc, tftp, quake, raudio, cuseeme, vdolive\)$/);
  const triggers = parseConfig('[wan]\ntype = "ethernet"\n[[trigger]]\nprotocol = "tcp"\nport = 6112\nopen = "6112-6119"\nopen_protocol = "udp"\n[[trigger]]\nprotocol = "udp"\nport = "7000-7001"\nopen = 7100\ntimeout = 60\n');
  t.true(triggers.ok);
  if (triggers.ok) {
    t.deepEqual(triggers.config.trigger, [
      { protocol: 'tcp', firstPort: 6112, lastPort: 6112, openProtocol: 'udp', openFirst: 6112, openLast: 6119, timeout: 600 },
      { protocol: 'udp', firstPort: 7000, lastPort: 7001, openProtocol: 'udp', openFirst: 7100, openLast: 7100, timeout: 60 },
    ]);
  }
  const missing = errorsOf('[wan]\ntype = "ethernet"\n[[trigger]]\nprotocol = "tcp"\nport = 6112\ntimeout = 0\n');
  t.deepEqual(missing.map((e) => formatConfigError('gateway.toml', e)), ['gateway.toml:3: trigger[0]: needs open = N or "N-M"', 'gateway.toml:6: trigger[0].timeout: must be an integer from 1 to 86400, not 0']);
});

test('[[dialin]]: answering modems with their users, the default pool at the top of the LAN, and mistakes with their lines', (t) => {
  const ok = parseConfig([
    '[wan]', 'type = "ppp"',
    '[[dialin]]', 'device = "/dev/ttyUSB1"', 'rings = 2', 'flow_control = "none"',
    '[dialin.users]', 'alice = "wonderland"', 'bob = { password = "builder", address = "192.168.0.205" }',
    '[[dialin]]', 'device = "/dev/ttyUSB2"', 'pool = "192.168.0.200-192.168.0.209"', 'protocols = ["ppp"]', 'dns = ["192.168.0.1"]',
    '[dialin.users]', 'carol = "c"',
  ].join('\n'));
  t.true(ok.ok);
  if (!ok.ok) return;
  const [a, b] = ok.config.dialin;
  t.like(a, { device: '/dev/ttyUSB1', rings: 2, carrier: 'none', init: ['ATZ', 'ATS0=0'], protocols: ['ppp', 'slip'], idleTimeout: 600, dns: undefined });
  t.deepEqual(a!.pool, { first: parseIpv4('192.168.0.240'), last: parseIpv4('192.168.0.253') });
  t.deepEqual(a!.users.get('bob'), { password: 'builder', address: parseIpv4('192.168.0.205') });
  t.deepEqual(b!.pool, { first: parseIpv4('192.168.0.200'), last: parseIpv4('192.168.0.209') });
  t.deepEqual(b!.dns, [parseIpv4('192.168.0.1')]);
  const bad = (lines: string[]): string[] => {
    const r = parseConfig(['[wan]', 'type = "ppp"', ...lines].join('\n'));
    return r.ok ? [] : r.errors.map((e) => `${e.line} ${e.key}: ${e.message}`);
  };
  t.regex(bad(['[[dialin]]', 'device = "/dev/x"']).join(), /^3 dialin\[0\]: needs a \[dialin.users\] table/);
  t.regex(bad(['[[dialin]]', 'device = "/dev/x"', 'pool = "192.168.0.1-192.168.0.5"', '[dialin.users]', 'a = "b"']).join(), /5 dialin\[0\]\.pool: contains the gateway's own address 192\.168\.0\.1/);
  t.regex(bad(['[[dialin]]', 'device = "/dev/x"', 'pool = "10.0.0.1-10.0.0.5"', '[dialin.users]', 'a = "b"']).join(), /dialin\[0\]\.pool: must lie on the LAN/);
  t.regex(bad(['[[dialin]]', 'device = "/dev/x"', 'protocols = ["uucp"]', '[dialin.users]', 'a = "b"']).join(), /dialin\[0\]\.protocols: "uucp" is not/);
  t.regex(bad(['[[dialin]]', 'device = "/dev/x"', '[dialin.users]', 'a = { password = "b", address = "10.1.1.1" }']).join(), /6 dialin\[0\]\.users\.a\.address: 10\.1\.1\.1 is not on the LAN/);
  t.regex(bad(['[[dialin]]', '[dialin.users]', 'a = "b"']).join(), /dialin\[0\]: needs device/);
  // Passwords never reach an error message.
  t.notRegex(bad(['[[dialin]]', 'device = "/dev/x"', '[dialin.users]', 'a = { password = "s3cr3t-pw", colour = "red" }']).join(), /s3cr3t-pw/);
});
