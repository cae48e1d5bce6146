// The `gateway` command installed as npm installs any command (`npm install -g`), into a
// temporary prefix: on the PATH, it checks a config. --ignore-scripts: `make build` has built
// the native code for Node 24 already, and npm would rebuild it for the machine's own Node.

import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPO = join(import.meta.dirname, '..', '..', '..');

test('npm install -g puts gateway on the PATH, and it works from there', (t) => {
  const prefix = mkdtempSync(join(tmpdir(), 'gw-prefix-'));
  try {
    execFileSync('npm', ['install', '-g', '--ignore-scripts', '--prefix', prefix, '--no-audit', '--no-fund', REPO], { stdio: 'ignore', timeout: 120_000 });
    const config = join(prefix, 'gateway.toml');
    writeFileSync(config, '[wan]\ntype = "ppp"\n');
    const env = { ...process.env, PATH: `${join(prefix, 'bin')}:${process.env['PATH'] ?? ''}` };
    t.is(execFileSync('gateway', ['check', '--config', config], { encoding: 'utf8', env }), `${config}: ok\n`);
    writeFileSync(config, '[wan]\ntype = "modem"\n');
    const e = t.throws(() => execFileSync('gateway', ['check', '--config', config], { encoding: 'utf8', env, stdio: 'pipe' })) as unknown as { stderr: string };
    t.regex(e.stderr, /gateway\.toml:2: wan\.type: must be one of "ethernet", "ppp"/);
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
});
