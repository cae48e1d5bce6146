// The one command registry (DESIGN.md, "Target shape"): each command has a name, a summary and a
// typed result. Two front ends read it: the control socket (`gateway status`) and the serial
// console. A part registers its commands when it starts.

export interface Command<A = string[], R = unknown> {
  name: string;
  summary: string;
  /** How it is used, for `help NAME`: "masq [ADDRESS|PORT|tcp|udp|icmp]... [--page N]". */
  usage?: string;
  /** Words that may follow the name (tab completion). */
  words?: readonly string[];
  /** Arguments as typed after the name (console) or sent over the socket. */
  run(args: A): R | Promise<R>;
  /** The result for people (the console, `gateway status` without --json); JSON otherwise. */
  text?(result: R): string;
}

export type CommandResult = { ok: true; result: unknown; text: string } | { ok: false; error: string };

/** A command's text when it has no formatter of its own. */
function asText(result: unknown): string {
  return typeof result === 'string' ? result : JSON.stringify(result, null, 2);
}

export class CommandRegistry {
  private readonly commands = new Map<string, Command<string[], unknown>>();

  register<R>(command: Command<string[], R>): void {
    if (this.commands.has(command.name)) throw new Error(`command ${command.name} is registered twice`);
    this.commands.set(command.name, command as Command<string[], unknown>);
  }

  get(name: string): Command<string[], unknown> | undefined {
    return this.commands.get(name);
  }

  unregister(name: string): void {
    this.commands.delete(name);
  }

  list(): { name: string; summary: string }[] {
    return [...this.commands.values()].map(({ name, summary }) => ({ name, summary })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Runs a command; an unknown name or a command that throws is an error result, never a throw. */
  async run(name: string, args: string[] = []): Promise<CommandResult> {
    const c = this.commands.get(name);
    if (c === undefined) return { ok: false, error: `unknown command "${name}" (known: ${this.list().map((x) => x.name).join(', ')})` };
    try {
      const result = await c.run(args);
      return { ok: true, result, text: c.text !== undefined ? c.text(result) : asText(result) };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  }
}
