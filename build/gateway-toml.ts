// The image's gateway.toml, the file a user edits after flashing: every key of the key table
// (firmware/config/keys.ts), each with its meaning; the few that make it a gateway (LAN eth0,
// an Ethernet WAN) set, every other one commented out at its default (the WAN on eth1, by DHCP).
//   node dist/build/gateway-toml.js > gateway.toml

import { pathToFileURL } from 'node:url';
import { ARRAY_SECTIONS, KEYS, type KeyDoc } from '../firmware/config/keys.js';

// The WAN's interface and address stay comments at their defaults (eth1, DHCP): switching to
// type = "ppp" then needs one line changed, not three.
const SET: Record<string, string> = { 'lan.interface': '"eth0"', 'lan.address': '"192.168.0.1/24"', 'wan.type': '"ethernet"' };
const EXAMPLES: Record<string, string> = { 'wan.gateway': '"203.0.113.1"', 'wan.mtu': '1492', 'masq.helpers': '{ ftp = [21], irc = [6667] }', 'portfw.protocol': '"tcp"', 'portfw.port': '8080', 'portfw.to': '"192.168.0.10:80"', 'leds.status': '17', 'leds.wan': '27', 'leds.lan': '22', 'watchdog.host': '"9.9.9.9"', 'modem.carrier': '"none"', 'trigger.protocol': '"tcp"', 'trigger.port': '6112', 'trigger.open': '"6112-6119"', 'trigger.open_protocol': '"udp"', 'dialin.device': '"/dev/ttyUSB1"', 'dialin.pool': '"192.168.0.200-192.168.0.209"', 'dialin.dns': '["192.168.0.1"]', 'dialin.carrier': '"none"' };
/** Keys written as a table of their own after the block (`[dialin.users]`). */
const SUBTABLES: Record<string, string[]> = { 'dialin.users': ['# [dialin.users]', '# alice = "wonderland"', '# bob = { password = "builder", address = "192.168.0.205" }'] };

function value(k: KeyDoc): string {
  const d = k.spec.default;
  if (typeof d === 'string') return JSON.stringify(d);
  if (Array.isArray(d)) return `[${d.map((x) => JSON.stringify(x)).join(', ')}]`;
  return String(d);
}

/** The commented gateway.toml (also fuzzed by bench/fuzz.ts as a seed). */
export function gatewayToml(): string {
  const lines = [
    '# gateway.toml: the gateway\'s settings. Edit it on any PC (it is on the card\'s FAT partition),',
    '# put the card back, power on. Lines starting with # are comments; remove the # to change a',
    '# value. A mistake is shown on the console and the LEDs (2 blinks), and nothing starts until',
    '# it is fixed. `gateway check --config gateway.toml` checks it on a PC.',
  ];
  for (const section of [...new Set(KEYS.map((k) => k.section))]) {
    const array = ARRAY_SECTIONS.has(section);
    lines.push('', array ? `# [[${section}]]   (one such block per rule)` : `[${section}]`);
    for (const k of KEYS.filter((x) => x.section === section)) {
      const id = `${section}.${k.key}`;
      lines.push(`# ${k.doc.replace(/`/g, '')}`);
      const set = SET[id];
      const sub = SUBTABLES[id];
      if (sub !== undefined) lines.push(...sub);
      else if (set !== undefined && !array) lines.push(`${k.key} = ${set}`);
      else lines.push(`# ${k.key} = ${EXAMPLES[id] ?? (k.spec.default === undefined ? '' : value(k))}`.trimEnd());
    }
  }
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) process.stdout.write(gatewayToml());

