// The forwarding core's public surface.

export { ForwardingCore, type CoreSnapshot, FLOW_SNAT, FLOW_DNAT } from './core.js';
export { defaultCoreOptions, DEFAULT_MAX_FLOWS, type CoreOptions, type InterfaceOptions, type LocalUdpService, type Medium, type Role } from './options.js';
export { TxQueue, CoreInterface } from './interface.js';
export { parseIpv4, formatIpv4, parseCidr, formatPrefix, type Prefix } from './addr.js';
export { xorshiftRng, DEFAULT_PORT_RANGE, type PortRange, type Rng } from './nat/ports.js';
export type { PortForwardRule } from './nat/portfw.js';
export { DEFAULT_TIMEOUTS, type FlowTimeouts } from './conntrack/tcp-states.js';
export { DROP_REASONS, type DropReason } from './counters.js';
