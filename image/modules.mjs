// The kernel modules the initrd loads, in dependency order, resolved without depmod (the build
// host has none): each module's `depends=` from its .modinfo section. Modules built into the
// kernel (modules.builtin) are skipped. Prints "relative/path.ko" lines in load order.
//   node image/modules.mjs MODULES_DIR NAME...
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const [dir, ...wanted] = process.argv.slice(2);
const norm = (n) => n.replace(/-/g, '_');
const files = new Map();
(function walk(d) {
  for (const e of readdirSync(d).sort()) {
    const p = join(d, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (e.endsWith('.ko')) files.set(norm(e.slice(0, -3)), p);
  }
})(join(dir, 'kernel'));
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
  const info = readFileSync(file).toString('latin1');
  const m = /depends=([^\0]*)/.exec(info);
  for (const dep of (m?.[1] ?? '').split(',').filter((x) => x !== '')) add(dep, n);
  order.push(relative(dir, file));
}
for (const w of wanted) add(w);
process.stdout.write(order.map((l) => `${l}\n`).join(''));
