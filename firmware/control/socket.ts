// The control socket: the command registry over a Unix socket, for `gateway status` and scripts.
// One request per connection: a line of JSON `{"command": "status", "args": [], "format":
// "json"}` (or nothing at all, which asks for status), answered with one line of JSON: the
// command's result, its text for people (format "text"), or `{"error": "..."}`. The socket is
// root's alone (mode 0600): status shows addresses and flows of everyone on the LAN.

import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Part, PartContext } from '../part.js';
import type { CommandRegistry } from './commands.js';

const MAX_REQUEST = 4096;

export interface ControlRequest {
  command: string;
  args?: string[];
  /** 'json' (the default): the result as JSON; 'text': the command's text for people, as a JSON string. */
  format?: 'json' | 'text';
}

export class ControlSocket implements Part<{ path: string; requests: number }> {
  readonly name = 'control';
  private server: Server | undefined;
  private requests = 0;

  constructor(readonly path: string) {}

  start(ctx: PartContext): Promise<void> {
    const { commands, log } = ctx;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      rmSync(this.path, { force: true });
    } catch (e) {
      throw new Error(`control socket ${this.path}: ${(e as Error).message}`);
    }
    const server = (this.server = createServer((sock) => this.serve(sock, commands)));
    server.on('error', (e) => log.warn({ event: 'control_socket_error', path: this.path, error: e.message }));
    return new Promise((resolve, reject) => {
      server.once('error', (e) => reject(new Error(`control socket ${this.path}: ${e.message}`)));
      server.listen(this.path, () => {
        server.off('error', reject);
        chmodSync(this.path, 0o600);
        resolve();
      });
    });
  }

  stop(): void {
    this.server?.close();
    this.server = undefined;
    rmSync(this.path, { force: true });
  }

  status(): { path: string; requests: number } {
    return { path: this.path, requests: this.requests };
  }

  private serve(sock: Socket, commands: CommandRegistry): void {
    let text = '';
    let answered = false;
    const answer = (request: string): void => {
      if (answered) return;
      answered = true;
      this.requests++;
      let parsed: ControlRequest;
      try {
        parsed = request.trim() === '' ? { command: 'status' } : (JSON.parse(request) as ControlRequest);
        if (typeof parsed.command !== 'string' || (parsed.args !== undefined && !Array.isArray(parsed.args))) throw new Error('expected {"command": string, "args": [string]}');
      } catch (e) {
        sock.end(`${JSON.stringify({ error: `bad request: ${(e as Error).message}` })}\n`);
        return;
      }
      void commands.run(parsed.command, (parsed.args ?? []).map(String)).then((r) => {
        const answer = !r.ok ? { error: r.error } : parsed.format === 'text' ? r.text : r.result;
        sock.end(`${JSON.stringify(answer)}\n`);
      });
    };
    sock.setEncoding('utf8');
    sock.on('error', () => sock.destroy());
    sock.on('data', (d: string) => {
      text += d;
      const nl = text.indexOf('\n');
      if (nl >= 0) answer(text.slice(0, nl));
      else if (text.length > MAX_REQUEST) answer('{}');
    });
    sock.on('end', () => answer(text));
  }
}

/** Asks a running gateway; resolves with its answer (parsed), rejects when no gateway listens. */
export function askGateway(path: string, request: ControlRequest, connect: (path: string) => Socket): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let out = '';
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify(request)}\n`));
    sock.on('data', (d: string) => (out += d));
    sock.on('end', () => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`unreadable answer from ${path}: ${out.slice(0, 200)}`));
      }
    });
    sock.on('error', reject);
  });
}
