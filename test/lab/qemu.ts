// An emulated machine's serial console for the lab: QEMU started with its console on stdio,
// everything it prints kept, waited on and typed into. Shared by the virt and raspi3b labs.

import { spawn, type ChildProcess } from 'node:child_process';

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
}

/** echo: also copy what the console prints to this stream (the demo's terminal). */
export function startQemu(binary: string, args: string[], echo?: NodeJS.WritableStream): QemuConsole {
  const startedAt = Date.now();
  const qemu: ChildProcess = spawn(binary, [...args, '-nographic', '-monitor', 'none'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  qemu.stdout!.on('data', (d: Buffer) => {
    screen += d.toString('utf8');
    echo?.write(d);
  });
  qemu.stderr!.on('data', (d: Buffer) => (screen += d.toString('utf8')));
  const exited = new Promise<void>((resolve) => qemu.on('exit', () => resolve()));
  return {
    screen: () => screen,
    waitFor: async (re, ms, from = 0) => {
      for (const end = Date.now() + ms; !re.test(screen.slice(from)); await new Promise((r) => setTimeout(r, 100))) {
        if (Date.now() > end) throw new Error(`no ${re} within ${ms} ms; the console shows:\n${screen.slice(-3000)}`);
      }
    },
    type: (text) => void qemu.stdin!.write(text),
    elapsed: () => Date.now() - startedAt,
    kill: () => void qemu.kill('SIGKILL'),
    exited,
  };
}
