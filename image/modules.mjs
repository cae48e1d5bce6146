// The kernel modules the image carries, resolved without depmod (the build host has none): each
// module's `depends=` and `alias=` from its .modinfo section. Modules built into the kernel
// (modules.builtin) are skipped.
//   node image/modules.mjs MODULES_DIR NAME...   prints "kernel/…/x.ko" lines, dependencies first
//   node image/modules.mjs --index TREE          writes TREE/modules.dep and TREE/modules.alias
//                                                (depmod's formats, for busybox modprobe) for the
//                                                .ko files under TREE/kernel, sorted
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const norm = (n) => n.replace(/-/g, '_');

/** name → path of every .ko under DIR/kernel. */
function moduleFiles(dir) {
  const files = new Map();
  (function walk(d) {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e.endsWith('.ko')) files.set(norm(e.slice(0, -3)), p);
    }
  })(join(dir, 'kernel'));
  return files;
}

/** A .modinfo key's values (`depends=` is one comma-separated value, `alias=` repeats). */
function modinfo(file, key) {
  const info = readFileSync(file).toString('latin1');
  return [...info.matchAll(new RegExp(`(?:^|\\0)${key}=([^\\0]*)`, 'g'))].map((m) => m[1]);
}
const dependsOf = (file) => (modinfo(file, 'depends')[0] ?? '').split(',').filter((x) => x !== '');

const [first, ...rest] = process.argv.slice(2);
if (first === '--index') {
  // modules.dep: "kernel/a.ko: kernel/b.ko kernel/c.ko", every dependency, nearest first
  // (modprobe loads the list from its end). modules.alias: "alias PATTERN name".
  const tree = rest[0];
  const files = moduleFiles(tree);
  const deps = [];
  const aliases = [];
  for (const [name, file] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const order = [];
    (function add(n) {
      for (const d of dependsOf(files.get(n))) {
        const dn = norm(d);
        if (!files.has(dn) || order.includes(dn)) continue;
        add(dn);
        order.push(dn);
      }
    })(name);
    deps.push(`${relative(tree, file)}:${order.reverse().map((d) => ` ${relative(tree, files.get(d))}`).join('')}\n`);
    for (const a of modinfo(file, 'alias').sort()) aliases.push(`alias ${a} ${name}\n`);
  }
  writeFileSync(join(tree, 'modules.dep'), deps.join(''));
  writeFileSync(join(tree, 'modules.alias'), aliases.join(''));
} else {
  const dir = first;
  const files = moduleFiles(dir);
  const builtin = new Set(readFileSync(join(dir, 'modules.builtin'), 'utf8').split('\n').map((l) => norm(l.replace(/^.*\//, '').replace(/\.ko$/, ''))));
  const order = [];
  const seen = new Set();
  function add(name, from) {
    const n = norm(name);
    if (seen.has(n) || builtin.has(n)) return;
    const file = files.get(n);
    if (file === undefined) {
      process.stderr.write(`modules.mjs: no module ${name}${from ? ` (needed by ${from})` : ''}\n`);
      return;
    }
    seen.add(n);
    for (const dep of dependsOf(file)) add(dep, n);
    order.push(relative(dir, file));
  }
  for (const w of rest) add(w);
  process.stdout.write(order.map((l) => `${l}\n`).join(''));
}
