// The one interface between drivers and the core (DESIGN.md): a named port that receives and
// sends batches of frames. Ethernet links carry frames with their MAC header; `ip` links (PPP,
// SLIP) carry bare datagrams.

/**
 * A received batch: frame i is frames[i][starts[i], ends[i]). The frames may be views of a
 * receive ring: they are valid only until the handler returns, so everything the handler queues
 * for sending must be sent before it returns (firmware/datapath.ts flushes the core's transmit
 * queues before it returns).
 */
export type FrameBatchHandler = (frames: readonly Uint8Array[], starts: Int32Array, ends: Int32Array, count: number) => void;

/** Frames to send, in the same shape (the core's TxQueue). */
export interface FrameBatch {
  readonly frames: readonly Uint8Array[];
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  readonly count: number;
}

export interface LinkState {
  up: boolean;
  mtu: number;
  /** The interface is gone (unplugged, deleted): the link is dead and its owner closes it. */
  gone?: boolean;
}

export interface Link {
  readonly name: string;
  readonly medium: 'ethernet' | 'ip';
  /** Ethernet only. */
  readonly mac: Uint8Array | undefined;
  readonly mtu: number;
  /** Starts delivering batches and link state changes. */
  start(onFrames: FrameBatchHandler, onState: (state: LinkState) => void): void;
  send(batch: FrameBatch): void;
  /** Counters worth a status line: received, dropped by the kernel, truncated, refused on send. */
  stats(): Record<string, number>;
  close(): void;
}
