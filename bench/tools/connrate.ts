// New TCP connections per second through a gateway. `server PORT` accepts and closes at once
// after one byte; `client HOST PORT SECONDS CONCURRENCY` keeps CONCURRENCY connections in flight
// (connect, read the byte, close) and prints the completed count per second as JSON.

import { connect, createServer } from 'node:net';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'server') {
  createServer((s) => {
    s.on('error', () => s.destroy());
    s.end('x');
  }).listen(Number(args[0]), '0.0.0.0');
} else if (mode === 'client') {
  const [host, port, seconds, concurrency] = [args[0]!, Number(args[1]), Number(args[2]), Number(args[3])];
  const end = Date.now() + seconds * 1000;
  let done = 0;
  let failed = 0;
  const one = (): void => {
    if (Date.now() >= end) return;
    const s = connect({ host, port });
    s.setTimeout(3000, () => s.destroy(new Error('timeout')));
    s.once('data', () => {
      done++;
      s.destroy();
      one();
    });
    s.once('error', () => {
      failed++;
      s.destroy();
      one();
    });
  };
  const start = Date.now();
  for (let i = 0; i < concurrency; i++) one();
  setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ connections: done, failed, per_second: done / ((Date.now() - start) / 1000) })}\n`);
    process.exit(0);
  }, seconds * 1000 + 200);
} else {
  process.stderr.write('usage: connrate server PORT | client HOST PORT SECONDS CONCURRENCY\n');
  process.exit(2);
}
