// The PPP lab's ISP: a QEMU guest running Debian's kernel and pppd (test/lab/isp/build.sh),
// built once and cached under .cache/isp/<hash of the recipe>. A virtio console (hvc0) is the
// subscriber line (test/lab/modem-emulator.ts relays calls to it): under software emulation a
// 16550 costs a trap per byte and could not keep a 4 Mbit/s line busy. Serial ports: ttyS0
// unused, ttyS1 a control channel (call, hangup, freeze, thaw), ttyS2 its console, kept in
// console.log for the tests.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const recipe = join(root, 'test', 'lab', 'isp');
const BOOT_TIMEOUT_MS = 90_000;

/** The guest's kernel and initramfs, built if the cache does not have this recipe's. */
export function ispImage(): { kernel: string; initrd: string } {
  const hash = createHash('sha256');
  for (const f of ['build.sh', 'init']) hash.update(readFileSync(join(recipe, f)));
  const dir = join(root, '.cache', 'isp', hash.digest('hex').slice(0, 16));
  const kernel = join(dir, 'vmlinuz');
  const initrd = join(dir, 'initrd.img');
  if (!existsSync(kernel) || !existsSync(initrd)) execFileSync('sh', [join(recipe, 'build.sh'), dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { kernel, initrd };
}

export interface GuestEvent {
  at: number;
  line: string;
}

export class IspGuest {
  readonly events: GuestEvent[] = [];
  private control!: Socket;
  line!: Socket;
  private buffered = '';
  private waiters: { re: RegExp; from: number; resolve: (line: string) => void }[] = [];
  private readonly listeners: ((line: string) => void)[] = [];

  private constructor(private readonly qemu: ChildProcess, readonly dir: string) {}

  static async start(dir: string): Promise<IspGuest> {
    mkdirSync(dir, { recursive: true });
    const { kernel, initrd } = ispImage();
    // Software emulation: KVM exists here but hangs nested guests (issue 4's facts).
    const accel = process.env['ISP_ACCEL'] ?? 'tcg';
    const qemu = spawn('qemu-system-x86_64', [
      '-accel', accel, '-m', '192', '-nodefaults', '-display', 'none', '-no-reboot',
      '-kernel', kernel, '-initrd', initrd, '-append', 'console=ttyS2 panic=-1 quiet',
      '-chardev', `socket,id=line,path=${join(dir, 'line.sock')},server=on,wait=on`,
      '-device', 'virtio-serial-pci', '-device', 'virtconsole,chardev=line',
      '-serial', 'null',
      '-serial', `unix:${join(dir, 'control.sock')},server=on,wait=on`,
      '-serial', `file:${join(dir, 'console.log')}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true }); // own process group: the demo's Ctrl-C is for the gateway
    let stderr = '';
    qemu.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const guest = new IspGuest(qemu, dir);
    const exited = new Promise<never>((_, reject) => qemu.once('exit', (code) => reject(new Error(`qemu exited (${code}): ${stderr.trim()}`))));
    guest.line = await Promise.race([connectWhenListening(join(dir, 'line.sock')), exited]);
    guest.control = await Promise.race([connectWhenListening(join(dir, 'control.sock')), exited]);
    guest.control.on('data', (b: Buffer) => guest.controlData(b.toString('latin1')));
    await Promise.race([guest.waitFor(/^ready$/, BOOT_TIMEOUT_MS), exited]);
    return guest;
  }

  /** Sends a control command and waits for the guest's "ok". */
  async command(cmd: string, timeoutMs = 10_000): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const from = this.events.length;
      this.control.write(`@${cmd}\n`);
      const line = await this.waitFor(new RegExp(`^(ok ${cmd.split(' ')[0]}|error .*)$`), timeoutMs, from);
      // The guest refuses a line whose start was lost on the serial line (see isp/init): send it again.
      if (line.startsWith('error garbled') && attempt < 3) continue;
      if (line.startsWith('error')) throw new Error(`ISP guest: ${line}`);
      return;
    }
  }

  /** The first event matching re from event number `from` on (default: any, including past). */
  waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<string> {
    const seen = this.events.slice(from).find((e) => re.test(e.line));
    if (seen !== undefined) return Promise.resolve(seen.line);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`ISP guest: no ${re} within ${timeoutMs} ms; console:\n${this.console().slice(-3000)}`));
      }, timeoutMs);
      const waiter = { re, from, resolve: (line: string) => (clearTimeout(timer), resolve(line)) };
      this.waiters.push(waiter);
    });
  }

  /** Calls `listener` with every control line from now on. */
  onEvent(listener: (line: string) => void): void {
    this.listeners.push(listener);
  }

  /** Kernel and pppd log (pppd runs with `debug`: every packet it sends and receives), from `from` on. */
  console(from = 0): string {
    try {
      return readFileSync(join(this.dir, 'console.log'), 'latin1').slice(from);
    } catch {
      return '';
    }
  }

  stop(): void {
    this.line?.destroy();
    this.control?.destroy();
    this.qemu.kill('SIGKILL');
  }

  private controlData(text: string): void {
    this.buffered += text;
    let nl: number;
    while ((nl = this.buffered.search(/[\r\n]/)) >= 0) {
      const line = this.buffered.slice(0, nl).trim();
      this.buffered = this.buffered.slice(nl + 1);
      if (line === '') continue;
      this.events.push({ at: Date.now(), line });
      const index = this.events.length - 1;
      for (const l of this.listeners) l(line);
      for (const w of [...this.waiters]) {
        if (index >= w.from && w.re.test(line)) {
          this.waiters = this.waiters.filter((x) => x !== w);
          w.resolve(line);
        }
      }
    }
  }
}

async function connectWhenListening(path: string): Promise<Socket> {
  for (let i = 0; ; i++) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = connect(path);
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
    } catch (e) {
      if (i > 200) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
