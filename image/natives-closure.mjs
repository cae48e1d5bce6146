// The packages the bundle leaves outside (those with native code, build/bundle.sh) and every
// package they depend on, as node_modules folders relative to the repository, sorted: what the
// image's /opt/gateway/node_modules holds. Resolution as Node does it: the nearest node_modules
// up from the package that depends on it.
//   node image/natives-closure.mjs REPO NAME...
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const [repo, ...roots] = process.argv.slice(2);
const found = new Set();
function add(name, from) {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'node_modules', name);
    if (existsSync(join(pkg, 'package.json'))) {
      if (found.has(pkg)) return;
      found.add(pkg);
      const { dependencies = {} } = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
      for (const dep of Object.keys(dependencies)) add(dep, pkg);
      return;
    }
    if (dirname(dir) === dir) throw new Error(`natives-closure: ${name} (needed from ${relative(repo, from) || '.'}) is not installed`);
  }
}
for (const r of roots) add(r, repo);
process.stdout.write([...found].map((p) => relative(repo, p)).sort().join('\n') + '\n');
