// Opens many UDP flows through a gateway: from SOCKETS local sockets to FLOWS/SOCKETS
// destination ports each, one datagram per flow, paced in bursts. Prints how many were sent.

import { createSocket } from 'node:dgram';

const [host, flowsArg, socketsArg] = process.argv.slice(2);
const flows = Number(flowsArg);
const sockets = Number(socketsArg ?? 2);
const perSocket = Math.ceil(flows / sockets);
if (perSocket > 65535) throw new Error(`${flows} flows need more than ${sockets} sockets`);
const payload = Buffer.from('flow');
let sent = 0;

async function run(): Promise<void> {
  const socks = await Promise.all(
    Array.from({ length: sockets }, () => new Promise<ReturnType<typeof createSocket>>((done) => {
      const s = createSocket('udp4');
      s.bind(0, () => done(s));
    })),
  );
  for (let port = 1; port <= perSocket; port++) {
    for (const s of socks) {
      s.send(payload, port, host);
      sent++;
    }
    // Bursts of a few hundred, then a pause, so neither kernel queue overflows.
    if (port % 200 === 0) await new Promise((done) => setTimeout(done, 2));
  }
  await new Promise((done) => setTimeout(done, 500));
  process.stdout.write(`${JSON.stringify({ sent })}\n`);
  for (const s of socks) s.close();
}

void run();
