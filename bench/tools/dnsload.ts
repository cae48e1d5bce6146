// Asks a DNS server as fast as it answers: CONCURRENCY queries in flight from one socket, for
// SECONDS. NAMES "same": one name again and again (answered from a cache); "unique": a new name
// each time (every query forwarded). Prints {answered, sent, seconds} as JSON.

import { createSocket } from 'node:dgram';
import { buildQuery, header } from '../../firmware/services/dns/message.js';

const [server, port, mode, secondsArg, concurrencyArg] = process.argv.slice(2);
const seconds = Number(secondsArg ?? 5);
const concurrency = Number(concurrencyArg ?? 32);
const sock = createSocket('udp4');
let sent = 0;
let answered = 0;
let id = 0;
const deadline = performance.now() + seconds * 1000;
const pending = new Map<number, number>();

function ask(): void {
  if (performance.now() >= deadline) return;
  id = (id + 1) & 0xffff;
  const name = mode === 'same' ? 'www.lab.test' : `n${sent}-${process.pid}.lab.test`;
  pending.set(id, performance.now());
  sent++;
  sock.send(buildQuery(id, name, 1), Number(port), server);
}

sock.on('message', (b) => {
  const h = header(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  if (h === undefined || !pending.delete(h.id)) return;
  answered++;
  ask();
});
// Lost queries are replaced after a second, so the window stays full.
const refill = setInterval(() => {
  const now = performance.now();
  for (const [k, at] of pending) if (now - at > 1000) {
    pending.delete(k);
    ask();
  }
}, 200);
sock.bind(0, () => {
  for (let i = 0; i < concurrency; i++) ask();
  setTimeout(() => {
    clearInterval(refill);
    process.stdout.write(`${JSON.stringify({ answered, sent, seconds })}\n`);
    sock.close();
  }, seconds * 1000 + 200);
});
