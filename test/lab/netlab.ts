// The test lab of DESIGN.md in network namespaces: a LAN host (192.168.0.100/24), the gateway's
// namespace (lan0, wan0), and a WAN host (203.0.113.1/24), joined by veth pairs. Used by the
// network tests, `make demo` and the forwarding benchmark. Every namespace and process it makes
// is removed by destroy().

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const LAN_HOST = '192.168.0.100';
export const LAN_GATEWAY = '192.168.0.1';
export const WAN_HOST = '203.0.113.1';
export const WAN_GATEWAY = '203.0.113.2';

const REPO = resolve(import.meta.dirname, '../../..');
export const NODE = join(REPO, 'node_modules/.bin/node');
/** The gateway the lab runs: dist's modules, or GATEWAY_MAIN (e.g. dist/gateway.mjs, the image's bundle), read at each start. */
const gatewayMain = (): string => process.env['GATEWAY_MAIN'] ?? join(REPO, 'dist/firmware/main.js');
/**
 * The Node that runs `gateway run`: NODE, or GATEWAY_NODE (the forwarding benchmark's private
 * copy: on a Pi the gateway is the only Node process, and pages of a binary that other
 * processes map too count in its resident size and cannot be handed back).
 */
const gatewayNode = (): string => process.env['GATEWAY_NODE'] ?? NODE;

/** Why the lab cannot run here, or undefined when it can (root, namespaces, the tools). */
export function labUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const tool of ['ip', 'ethtool', 'curl', 'iperf3', 'dnsmasq', 'nmap', 'traceroute', 'dig', 'nft', 'ping', 'python3', 'qemu-system-x86_64', 'socat', 'pppd', 'vsftpd', 'in.tftpd', 'tftp', 'ngircd', 'slattach', 'dhclient', 'busybox']) {
    try {
      execFileSync('sh', ['-c', `PATH="$PATH:/usr/sbin:/sbin" command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (build/host-deps.sh installs it as root)`;
    }
  }
  return undefined;
}

/**
 * For a test file that needs the lab: the reason it cannot run, or undefined. Under CI a
 * missing capability fails the file loudly; elsewhere its tests skip with the reason printed.
 */
export function requireLab(): string | undefined {
  const why = labUnavailable();
  if (why !== undefined && process.env['CI'] === 'true') throw new Error(`network tests cannot run under CI: ${why}`);
  if (why !== undefined) console.log(`skipping network tests: ${why}`);
  return why;
}

export interface GatewayProcess {
  proc: ChildProcess;
  /** Log records so far (JSON lines). */
  logs: Record<string, unknown>[];
  /** Waits for a log record with this event (and fields matching `where`). */
  waitFor(event: string, timeoutMs?: number, where?: (r: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  status(): Record<string, unknown> & { drops: Record<string, number>; translations: Record<string, number>; conntrack: Record<string, number> };
  stop(): Promise<number | null>;
}

export class NetLab {
  readonly lan: string;
  readonly gw: string;
  readonly wan: string;
  readonly dir: string;
  private readonly procs: ChildProcess[] = [];
  /** Background processes started in their own process group, killed as a group. */
  private readonly groups = new Set<ChildProcess>();
  private destroyed = false;

  constructor(tag: string) {
    const id = `${tag}${process.pid % 10000}`;
    this.lan = `${id}-lan`;
    this.gw = `${id}-gw`;
    this.wan = `${id}-wan`;
    this.dir = mkdtempSync(join(tmpdir(), `lab-${id}-`));
    try {
      for (const ns of [this.lan, this.gw, this.wan]) {
        run('ip', 'netns', 'add', ns);
        this.sh(ns, 'ip link set lo up; sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1');
      }
      this.plugIn('lan0');
      this.plugIn('wan0');
      this.sh(this.gw, 'ip link set lan0 up; ip link set wan0 up');
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** Unplugs one of the gateway's ports: its veth pair goes, both ends (a USB dongle pulled out). */
  unplug(port: 'lan0' | 'wan0'): void {
    this.sh(this.gw, `ip link del ${port}`);
  }

  /** Plugs a port (back) in: a new veth pair, its far end configured as the lab's host there. */
  plugIn(port: 'lan0' | 'wan0'): void {
    const far = port === 'lan0' ? this.lan : this.wan;
    run('ip', '-n', this.gw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', far);
    const quiet = 'for f in tx rx tso gso gro sg; do ethtool -K eth0 $f off >/dev/null 2>&1; done; true';
    this.sh(far, port === 'lan0'
      ? `${quiet}; ip addr add ${LAN_HOST}/24 dev eth0; ip link set eth0 up; ip route add default via ${LAN_GATEWAY}`
      : `${quiet}; ip addr add ${WAN_HOST}/24 dev eth0; ip link set eth0 up`);
  }

  /** Runs a shell command in a namespace; returns stdout; throws with stderr on failure. */
  sh(ns: string, script: string, timeoutMs = 60_000): string {
    return run('ip', 'netns', 'exec', ns, 'sh', '-c', script, { timeout: timeoutMs });
  }

  /** Like sh, but resolves with the exit code and output instead of throwing. */
  async shAsync(ns: string, script: string, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((done) => {
      const p = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
      p.on('close', (code) => {
        clearTimeout(timer);
        done({ code, stdout, stderr });
      });
    });
  }

  /** A long-running process in a namespace, killed by destroy(). Output goes to `log` in the lab dir. */
  background(ns: string, script: string, log: string): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', `exec ${script} >>${join(this.dir, log)} 2>&1`], { stdio: 'ignore', detached: true });
    this.procs.push(p);
    this.groups.add(p);
    return p;
  }

  file(name: string, text: string): string {
    const path = join(this.dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return path;
  }

  read(name: string): string {
    try {
      return execFileSync('cat', [join(this.dir, name)], { encoding: 'utf8' });
    } catch {
      return '';
    }
  }

  /** A web server on port 80 of a namespace serving the lab dir's `www` files; its log names each client. */
  /** A web server on `port`, listening before this returns (a gateway that starts fast must not race it). */
  webServer(ns: string, log: string, port = 80): void {
    mkdirSync(join(this.dir, 'www'), { recursive: true });
    this.background(ns, `python3 -u -m http.server ${port} --bind 0.0.0.0 --directory ${join(this.dir, 'www')}`, log);
    this.sh(ns, `for i in $(seq 100); do ss -Hltn 'sport = :${port}' | grep -q . && exit 0; sleep 0.05; done; echo "no web server on port ${port}" >&2; exit 1`);
  }

  /** dnsmasq on the WAN host: DNS for `*.lab.test`, and DHCP for the gateway's WAN if asked. */
  dnsmasq(opts: { dhcpRange?: string; t1?: number; t2?: number; leaseFile?: string } = {}): ChildProcess {
    const args = [
      'dnsmasq', '--keep-in-foreground', '--no-daemon', '--no-resolv', '--no-hosts', '--bind-interfaces', '--interface=eth0',
      '--except-interface=lo', `--address=/lab.test/${WAN_HOST}`, '--log-dhcp', '--log-queries', '--pid-file=',
    ];
    if (opts.dhcpRange !== undefined) {
      args.push(`--dhcp-range=${opts.dhcpRange}`, `--dhcp-option=option:router,${WAN_HOST}`, `--dhcp-option=option:dns-server,${WAN_HOST}`,
        '--dhcp-authoritative', `--dhcp-leasefile=${opts.leaseFile ?? join(this.dir, 'dnsmasq.leases')}`);
      if (opts.t1 !== undefined) args.push(`--dhcp-option=option:T1,${opts.t1}`);
      if (opts.t2 !== undefined) args.push(`--dhcp-option=option:T2,${opts.t2}`);
    }
    return this.background(this.wan, args.join(' '), 'dnsmasq.log');
  }

  gatewayConfig(wan: 'dhcp' | 'static', extra = ''): string {
    const addr = wan === 'dhcp' ? 'address = "dhcp"' : `address = "${WAN_GATEWAY}/24"\ngateway = "${WAN_HOST}"`;
    return `[lan]\ninterface = "lan0"\naddress = "${LAN_GATEWAY}/24"\n\n[wan]\ntype = "ethernet"\ninterface = "wan0"\n${addr}\n\n[log]\nlevel = "debug"\n${extra}`;
  }

  /** Starts our gateway in the gateway namespace and waits until it is forwarding. */
  async startGateway(config: string, extraArgs: readonly string[] = [], readyEvent = 'gateway_started'): Promise<GatewayProcess> {
    const file = this.file('gateway.toml', config);
    const control = join(this.dir, 'control.sock');
    const main = gatewayMain();
    const proc = spawn('ip', ['netns', 'exec', this.gw, gatewayNode(), main, 'run', '--config', file, '--state-dir', join(this.dir, 'state'), '--control', control, ...extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.procs.push(proc);
    const logs: Record<string, unknown>[] = [];
    const waiters: (() => void)[] = [];
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          logs.push({ event: 'unparsed', line });
        }
        for (const w of waiters.splice(0)) w();
      }
    });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((done) => proc.on('exit', (code) => { done(code); for (const w of waiters.splice(0)) w(); }));
    const waitFor = (event: string, timeoutMs = 20_000, where: (r: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> =>
      new Promise((done, fail) => {
        const deadline = setTimeout(() => fail(new Error(`no "${event}" within ${timeoutMs} ms; logs: ${JSON.stringify(logs.slice(-10))} stderr: ${stderr}`)), timeoutMs);
        const check = (): void => {
          const hit = logs.find((r) => r['event'] === event && where(r));
          if (hit !== undefined) {
            clearTimeout(deadline);
            return done(hit);
          }
          if (proc.exitCode !== null) {
            clearTimeout(deadline);
            return fail(new Error(`gateway exited (${proc.exitCode}) before "${event}"; logs: ${JSON.stringify(logs.slice(-10))} stderr: ${stderr}`));
          }
          waiters.push(check);
        };
        check();
      });
    const gw: GatewayProcess = {
      proc,
      logs,
      waitFor,
      status: () => JSON.parse(run(NODE, main, 'status', '--json', '--control', control)) as ReturnType<GatewayProcess['status']>,
      stop: async () => {
        if (proc.exitCode === null) proc.kill('SIGTERM');
        return exited;
      },
    };
    await waitFor(readyEvent);
    return gw;
  }

  /** The reference: the kernel's own masquerade (nftables) on the same topology. */
  startKernelGateway(): void {
    this.sh(this.gw, [
      `ip addr add ${LAN_GATEWAY}/24 dev lan0`, `ip addr add ${WAN_GATEWAY}/24 dev wan0`,
      'for d in lan0 wan0; do for f in tx rx tso gso gro sg; do ethtool -K $d $f off >/dev/null 2>&1; done; done; true',
      'sysctl -qw net.ipv4.ip_forward=1',
      `nft -f - <<'EOF'
table ip labnat {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan0" oifname "wan0" accept
  }
  chain post {
    type nat hook postrouting priority 100;
    oifname "wan0" masquerade
  }
}
EOF`,
    ].join('\n'));
  }

  stopKernelGateway(): void {
    this.sh(this.gw, `nft delete table ip labnat; sysctl -qw net.ipv4.ip_forward=0; ip addr flush dev lan0; ip addr flush dev wan0; true`);
  }

  /** Stops a process started by background(). */
  async kill(p: ChildProcess): Promise<void> {
    if (p.exitCode !== null || p.pid === undefined) return;
    const gone = new Promise((done) => p.once('exit', done));
    process.kill(-p.pid, 'SIGTERM');
    await gone;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.procs) {
      try {
        if (p.pid !== undefined && p.exitCode === null) process.kill(this.groups.has(p) ? -p.pid : p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ns of [this.lan, this.gw, this.wan]) {
      // Processes still inside (a test's client) would keep the namespace alive.
      try {
        execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean).forEach((pid) => {
          try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
        });
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // never created
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function run(cmd: string, ...args: (string | { timeout: number })[]): string {
  const opts = typeof args[args.length - 1] === 'object' ? (args.pop() as { timeout: number }) : { timeout: 60_000 };
  try {
    return execFileSync(cmd, args as string[], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeout });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${(args as string[]).join(' ')}: ${(err.stderr || err.message).trim()}${err.stdout ? `\n${err.stdout}` : ''}`);
  }
}
