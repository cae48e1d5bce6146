// A part's world without root: a manual clock, a datapath over the in-memory packet ring, an
// event bus that records, a logger that keeps its records, and the command registry.

import { pino } from 'pino';
import { MemoryRingBinding } from '../../drivers/nic/memory-ring.js';
import { PacketLink } from '../../drivers/nic/packet-link.js';
import { ManualClock } from '../../firmware/clock.js';
import { CommandRegistry } from '../../firmware/control/commands.js';
import { defaultCoreOptions } from '../../firmware/core/options.js';
import { xorshiftRng } from '../../firmware/core/nat/ports.js';
import { Datapath } from '../../firmware/datapath.js';
import { EventBus, type GatewayEvent } from '../../firmware/events.js';
import type { Host } from '../../firmware/host.js';
import type { Logger } from '../../firmware/log.js';
import type { PartContext } from '../../firmware/part.js';

export interface World {
  clock: ManualClock;
  ring: MemoryRingBinding;
  datapath: Datapath;
  events: EventBus;
  /** Every event emitted on the bus, in order. */
  heard: GatewayEvent[];
  /** Host changes the parts asked for, as `verb args`. */
  hostChanges: string[];
  /** Every log record, parsed. */
  logs: Record<string, unknown>[];
  log: Logger;
  ctx: PartContext;
}

export function world(seed = 7): World {
  const clock = new ManualClock();
  const ring = new MemoryRingBinding();
  const logs: Record<string, unknown>[] = [];
  const log = pino({ level: 'trace', base: undefined }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const events = new EventBus();
  const heard: GatewayEvent[] = [];
  events.on((e) => heard.push(e));
  const rng = xorshiftRng(Uint32Array.of(seed, 1, 2, 3));
  const datapath = new Datapath({ core: defaultCoreOptions([], rng), clock, log, events });
  const hostChanges: string[] = [];
  const record = (verb: string) => (...args: (string | number)[]) => void hostChanges.push([verb, ...args].join(' '));
  const host: Host = {
    sysctl: record('sysctl'), sysctlAtMost: record('sysctlAtMost'), linkUp: record('linkUp'), disableIpv6: record('disableIpv6'), disableOffloads: record('disableOffloads'), addAddress: record('addAddress'),
    flushAddresses: record('flushAddresses'),
    hostLink: () => {
      record('hostLink')();
      ring.addInterface('gw-core', Uint8Array.of(2, 0, 0, 0, 0, 0xaa));
      return { coreSide: 'gw-core', coreAddress: '169.254.255.2/30', remove: record('removeHostLink') };
    },
  };
  const ctx: PartContext = {
    clock, log, events, datapath, commands: new CommandRegistry(), host, rng,
    openEthernet: (name) => new PacketLink(name, { binding: ring, clock, statePollMs: 100 }),
    interfaceExists: (name) => ring.has(name),
  };
  return { clock, ring, datapath, events, heard, hostChanges, logs, log, ctx };
}

/** Advances the manual clock in steps until `what` holds; fails after `ms` of simulated time. */
export async function until(clock: ManualClock, what: () => boolean, ms: number, explain: () => string = () => ''): Promise<void> {
  for (let waited = 0; !what(); waited += 50) {
    if (waited > ms) throw new Error(`not within ${ms} ms of simulated time ${explain()}`);
    await clock.run(50);
  }
}
