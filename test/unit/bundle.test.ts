// The single-file gateway (build/bundle.mjs, dist/gateway.mjs): what it loads at start, and its
// stand-in for serialport's `debug` (build/debug-lite.cjs).

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../../..');
const NODE = join(REPO, 'node_modules/.bin/node');

test('the bundle imports no built-in module as an ES module (each is loaded when first used)', (t) => {
  const bundle = readFileSync(join(REPO, 'dist/gateway.mjs'), 'utf8');
  // `import{x}from"node:v8"` loaded node:v8 and Node's streams at every boot: its digit escaped the shim.
  t.deepEqual(bundle.match(/from\s*"(node:)?[a-z0-9_/]+"/g) ?? [], []);
  t.true(bundle.includes('process.getBuiltinModule("node:v8")'));
});

test('the bundle carries the debug stand-in, not the package (no colour probe, no search for supports-color)', (t) => {
  const bundle = readFileSync(join(REPO, 'dist/gateway.mjs'), 'utf8');
  t.false(bundle.includes('supports-color'));
});

test('the debug stand-in writes a message only when DEBUG names its namespace', (t) => {
  const script = `
const createDebug = require(${JSON.stringify(join(REPO, 'build/debug-lite.cjs'))});
createDebug('serialport/bindings-cpp')('open %s at %d', '/dev/ttyS0', 115200);
createDebug('serialport/stream')('excluded');
createDebug('other')('not named');`;
  const run = (debug: string | undefined): string => {
    const env = { ...process.env };
    delete env['DEBUG'];
    if (debug !== undefined) env['DEBUG'] = debug;
    const r = spawnSync(NODE, ['-e', script], { encoding: 'utf8', env });
    t.is(r.status, 0, r.stderr);
    return r.stderr;
  };
  t.is(run(undefined), '');
  const named = run('serialport*,-serialport/stream');
  t.regex(named, /^\S+ serialport\/bindings-cpp open \/dev\/ttyS0 at 115200\n$/);
  t.regex(run('*'), /serialport\/stream excluded\n[\s\S]*other not named/);
});
