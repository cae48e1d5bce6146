// An emulated machine's serial console for the lab: QEMU started with its console on stdio,
// everything it prints kept, waited on and typed into. Shared by the virt and raspi3b labs.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';

export interface QemuConsole {
  /** Everything the emulated machine's console printed. */
  screen(): string;
  /** Waits until the console, from `from` on, matches. */
  waitFor(re: RegExp, ms: number, from?: number): Promise<void>;
  type(text: string): void;
  /** ms since QEMU started. */
  elapsed(): number;
  /** Kills QEMU (as pulling the power would). */
  kill(): void;
  /** Resolves when QEMU has exited. */
  exited: Promise<void>;
  running(): boolean;
  pid: number;
}

/**
 * echo: also copy what the console prints to this stream (the demo's terminal).
 *
 * The console goes to a file, not to a pipe read by this process: QEMU's serial models write a
 * byte at a time, and the socket Node gives a child as its stdout holds only a few hundred of
 * those writes. Once it is full QEMU retries under its global lock and the whole machine stops,
 * so a lab that waited in a synchronous call (curl through the gateway, a few seconds) while the
 * guest printed froze the guest it was testing: in about one boot in 30 the LAN host got no page
 * until the lab read again. A file never fills.
 */
export function startQemu(binary: string, args: string[], echo?: NodeJS.WritableStream): QemuConsole {
  const startedAt = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'qemu-console-'));
  const out = openSync(join(dir, 'console'), 'w+');
  const qemu: ChildProcess = spawn(binary, [...args, '-nographic', '-monitor', 'none'], { stdio: ['pipe', out, out] });
  let screen = '';
  let read = 0;
  const chunk = Buffer.alloc(1 << 16);
  const decoder = new TextDecoder();
  /** Takes in what QEMU wrote since the last look. */
  const catchUp = (): string => {
    for (let n; (n = readSync(out, chunk, 0, chunk.length, read)) > 0; read += n) {
      screen += decoder.decode(chunk.subarray(0, n), { stream: true });
      echo?.write(Buffer.from(chunk.subarray(0, n)));
    }
    return screen;
  };
  const echoing = echo !== undefined ? setInterval(catchUp, 50) : undefined;
  let running = true;
  /** The whole console so far (the file is closed once QEMU has exited). */
  const current = (): string => (running ? catchUp() : screen);
  const exited = new Promise<void>((resolve) => qemu.on('exit', () => {
    running = false;
    catchUp();
    clearInterval(echoing);
    closeSync(out);
    rmSync(dir, { recursive: true, force: true });
    resolve();
  }));
  return {
    screen: current,
    // Looked at every 20 ms: the boot benchmark times QEMU's start to a console line and what
    // follows it, and a coarser look added its own wait (50 ms on average at 100 ms) to the figure.
    waitFor: async (re, ms, from = 0) => {
      for (const end = Date.now() + ms; !re.test(current().slice(from)); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() > end) throw new Error(`no ${re} within ${ms} ms; the console shows:\n${screen.slice(-3000)}`);
      }
    },
    type: (text) => void qemu.stdin!.write(text),
    elapsed: () => Date.now() - startedAt,
    kill: () => void qemu.kill('SIGKILL'),
    exited,
    running: () => running,
    pid: qemu.pid!,
  };
}

/**
 * QEMU's raspi machines start all four cores in a boot stub where the secondaries wait to be
 * released by Linux (ARM's spin table). A real core sleeps there in WFE; QEMU's TCG runs WFE as a
 * yield, so each parked vCPU spins a host thread. On this machine's 2 cores they took the boot
 * vCPU's time, most of all in the kernel's ftrace setup, whose each code patch waits for every
 * vCPU: 15 s of a 27 s boot. This runs the parked vCPUs' threads at idle priority (SCHED_IDLE),
 * and each one at normal priority again as soon as it has left the stub (its PC, read from the
 * monitor, is past the stub's page): a running Linux CPU at idle priority could stall the others
 * (stop_machine, IPIs). QEMU must run with `-name <name>,debug-threads=on` and its monitor on
 * the unix socket `monitor`. Resolves once the parked threads run at idle priority.
 */
export async function idleParkedCpus(qemu: QemuConsole, monitor: string, cpus: number): Promise<void> {
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  // QEMU names its vCPU threads while it builds the machine, before the guest runs.
  const threadOf = new Map<number, string>();
  for (const end = Date.now() + 5_000; threadOf.size < cpus - 1; await sleep(10)) {
    if (!qemu.running() || Date.now() > end) throw new Error(`QEMU ${qemu.pid} has no threads "CPU 1/TCG" … "CPU ${cpus - 1}/TCG" (started without -name …,debug-threads=on?)`);
    for (const tid of readdirSync(`/proc/${qemu.pid}/task`)) {
      let name = '';
      try {
        name = readFileSync(`/proc/${qemu.pid}/task/${tid}/comm`, 'utf8').trim();
      } catch {
        // a short-lived thread of QEMU's that has ended
      }
      const cpu = /^CPU (\d+)\/TCG$/.exec(name)?.[1];
      if (cpu !== undefined && cpu !== '0') threadOf.set(Number(cpu), tid);
    }
  }
  const schedule = (tid: string, policy: '--idle' | '--other'): void => {
    try {
      execFileSync('chrt', [policy, '-p', '0', tid], { stdio: 'pipe' });
    } catch {
      // QEMU ended
    }
  };
  for (const tid of threadOf.values()) schedule(tid, '--idle');
  // Should the monitor never show them leave (another QEMU's output), normal again after a minute.
  const giveUpAt = Date.now() + 60_000;
  void (async () => {
    while (qemu.running() && threadOf.size > 0) {
      await sleep(100);
      if (Date.now() > giveUpAt) {
        for (const tid of threadOf.values()) schedule(tid, '--other');
        return;
      }
      let registers: string;
      try {
        registers = await hmp(monitor, 'info registers -a');
      } catch {
        continue; // the monitor is not up yet, or QEMU is ending
      }
      [...registers.matchAll(/PC=([0-9a-f]+)/g)].forEach((pc, cpu) => {
        const tid = threadOf.get(cpu);
        if (tid !== undefined && Number.parseInt(pc[1]!, 16) >= 0x1000) {
          schedule(tid, '--other');
          threadOf.delete(cpu);
        }
      });
    }
  })();
}

/** One command to QEMU's human monitor on its unix socket; resolves with its answer. */
export function hmp(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(socket);
    let seen = '';
    let sent = false;
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`QEMU monitor: no answer to ${command}: ${seen}`));
    }, 10_000);
    c.on('data', (d: Buffer) => {
      seen += d.toString('latin1');
      // The banner's prompt, then the prompt after our command's output.
      const prompts = seen.split('(qemu) ').length - 1;
      if (!sent && prompts >= 1) {
        sent = true;
        c.write(`${command}\n`);
      } else if (sent && prompts >= 2) {
        clearTimeout(timer);
        c.end();
        const answer = seen.slice(seen.indexOf(command) + command.length).replace(/\(qemu\) $/, '').replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').trim();
        if (/Error|error:/.test(answer)) reject(new Error(`QEMU monitor: ${command}: ${answer}`));
        else resolve(answer);
      }
    });
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
