// Changes made at the console, written back into gateway.toml as the user wrote it: comments and
// every other section stay; only the [[portfw]] blocks are replaced, by the rules in force.

import { formatIpv4 } from '../core/addr.js';
import type { PortForwardRule } from '../core/nat/portfw.js';

/** The text with its [[portfw]] blocks (header to the next table header) replaced by `rules`. */
export function withPortForwards(text: string, rules: readonly PortForwardRule[]): string {
  const lines = text.split('\n');
  const kept: string[] = [];
  let inBlock = false;
  for (const line of lines) {
    const header = /^\s*\[/.exec(line) !== null;
    if (header) inBlock = /^\s*\[\[\s*portfw\s*\]\]/.test(line);
    if (!inBlock) kept.push(line);
  }
  while (kept.length > 0 && kept[kept.length - 1]!.trim() === '') kept.pop();
  const blocks = rules.map((r) => {
    const port = r.firstPort === r.lastPort ? `${r.firstPort}` : `"${r.firstPort}-${r.lastPort}"`;
    return `[[portfw]]\nprotocol = "${r.protocol}"\nport = ${port}\nto = "${formatIpv4(r.toAddress)}:${r.toPort}"`;
  });
  return `${[kept.join('\n'), ...blocks].join('\n\n')}\n`;
}

/** The file for `config show`: secrets replaced, everything else as written. */
export function withoutSecrets(text: string): string {
  return text.replace(/^(\s*(?:password|pin)\s*=\s*)("(?:[^"\\]|\\.)*"|'[^']*')/gm, '$1"[secret]"');
}
