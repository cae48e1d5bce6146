// The gateway as one JavaScript file (dist/gateway.mjs): see build/bundle.sh, which runs this.
//   node build/bundle.mjs OUTFILE EXTERNAL...
//
// Node's own modules are reached through process.getBuiltinModule, as CommonJS modules of the
// bundle (shim below), not imported as ES modules: importing a built-in as an ES module builds
// its named exports, which reads every getter of it (node:fs's `promises`, its streams, readline
// with them), and loads it whether the boot uses it or not.
// pino's transports (worker threads through thread-stream) are not part of the gateway; the
// stand-in says so if anything asks for one. node:assert is build/assert-lite.cjs; `debug`
// (serialport's) is build/debug-lite.cjs.

import { build } from 'esbuild';
import { builtinModules } from 'node:module';
import { join } from 'node:path';

const [out, ...externals] = process.argv.slice(2);
const here = import.meta.dirname;

/** @type {import('esbuild').Plugin} */
const builtinsByRequire = {
  name: 'builtins-by-getBuiltinModule',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z0-9_/]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      if (name === 'assert') return { path: join(here, 'assert-lite.cjs') };
      if (!builtins.has(name)) return undefined;
      return { path: name, namespace: 'builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({ contents: shim(args.path), loader: 'js' }));
  },
};

const builtins = new Set(builtinModules);

/**
 * A built-in as a CommonJS module of the bundle. One that is an object is loaded when one of its
 * members is first read (its members' names are taken from this Node, the image's major
 * version), so that what the boot does not use (node:v8, node:child_process, ...) is not loaded
 * by it; one that is itself a function or class (node:events, node:assert) is loaded with it.
 */
function shim(name) {
  const load = `process.getBuiltinModule(${JSON.stringify(`node:${name}`)})`;
  const mod = process.getBuiltinModule(`node:${name}`);
  if (typeof mod === 'function') return `module.exports = ${load};`;
  const members = Object.getOwnPropertyNames(mod).filter((k) => /^[A-Za-z_$][\w$]*$/.test(k));
  return `let m;\nconst load = () => (m ??= ${load});\nmodule.exports = {\n${members.map((k) => `  get ${k}() { return load().${k}; },`).join('\n')}\n};`;
}

await build({
  entryPoints: [join(here, '..', 'dist/firmware/main.js')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  outfile: out,
  legalComments: 'none',
  logLevel: 'warning',
  // Minified (less to read and parse on a slow card; names kept for stack traces and logs).
  minify: true,
  keepNames: true,
  external: externals,
  alias: { 'node-gyp-build': join(here, 'node-gyp-build.cjs'), 'thread-stream': join(here, 'no-thread-stream.cjs'), debug: join(here, 'debug-lite.cjs') },
  plugins: [builtinsByRequire],
  // CommonJS packages inside an ES module bundle call require() and read __dirname: give them both.
  banner: { js: "const require = process.getBuiltinModule('node:module').createRequire(import.meta.url); const __dirname = import.meta.dirname;" },
});
