// IPCP (RFC 1332) with the DNS server options of RFC 1877: our address and name servers come
// from the peer's Naks; as a server we hand the peer its address. Van Jacobson compression
// (§3.2) is offered and accepted in each direction on its own; the old IP-Addresses option is
// refused with Configure-Reject.

import { emitOptions, parseOptions, readU16, readU32, u16, u32 } from './control.js';
import { Code, Fsm, verdictOf, type FsmConfig, type FsmEvents, type FsmProtocol, type RequestVerdict } from './fsm.js';
import { MAX_SLOTS, PROTO_VJ_COMPRESSED } from './vj.js';

// Also known, and rejected: 1 IP-Addresses (deprecated, RFC 1332 §3.1).
const OPT_COMPRESSION = 2;
const OPT_IP_ADDRESS = 3;
const OPT_PRIMARY_DNS = 129;
const OPT_SECONDARY_DNS = 131;

export interface IpcpConfig {
  /** Our address to propose; 0 asks the peer to assign one (a dial-up client). */
  localAddress: number;
  /** The address we give the peer when it asks with 0 (a dial-in server); 0: none to give. */
  peerAddress: number;
  /** Ask the peer for name servers (RFC 1877). */
  requestDns: boolean;
  /** Name servers we hand a peer that asks (a dial-in server). */
  dnsForPeer: readonly number[];
  /** Van Jacobson compression: connection slots we offer to decompress, and accept to compress for; 0: refused. */
  vjSlots?: number;
}

/** VJ compression agreed for one direction: how many slots, and whether the slot id may be omitted. */
export interface VjAgreement {
  slots: number;
  omitSlotId: boolean;
}

export interface IpcpAgreement {
  localAddress: number;
  peerAddress: number;
  dns: number[];
  /** The peer may send us VJ-compressed packets (our request, acked). */
  vjReceive?: VjAgreement;
  /** We may send the peer VJ-compressed packets (its request, acked by us). */
  vjSend?: VjAgreement;
}

/** Option 2's value for VJ: protocol, Max-Slot-Id, Comp-Slot-Id (RFC 1332 §3.2). */
function vjOption(v: VjAgreement): Uint8Array {
  return Uint8Array.of(...u16(PROTO_VJ_COMPRESSED), v.slots - 1, v.omitSlotId ? 1 : 0);
}

export interface IpcpEvents extends FsmEvents {
  up(agreement: IpcpAgreement): void;
  down(): void;
  finished(): void;
}


export class Ipcp implements FsmProtocol {
  readonly name = 'IPCP';
  readonly fsm: Fsm;
  private local: number;
  private dns: number[] = [0, 0];
  private want = { dns1: true, dns2: true };
  private peer = 0;
  private vjReceive: VjAgreement | undefined;
  private vjSend: VjAgreement | undefined;

  constructor(private readonly config: IpcpConfig, private readonly events: IpcpEvents, fsmConfig?: FsmConfig) {
    this.fsm = new Fsm(this, events, fsmConfig);
    this.local = config.localAddress;
    this.want.dns1 = this.want.dns2 = config.requestDns;
    this.vjReceive = this.offeredVj();
  }

  private offeredVj(): VjAgreement | undefined {
    const slots = Math.min(MAX_SLOTS, this.config.vjSlots ?? 0);
    return slots > 0 ? { slots, omitSlotId: true } : undefined;
  }

  requestOptions(): Uint8Array {
    const o = [{ type: OPT_IP_ADDRESS, value: u32(this.local) }];
    if (this.vjReceive !== undefined) o.push({ type: OPT_COMPRESSION, value: vjOption(this.vjReceive) });
    if (this.want.dns1) o.push({ type: OPT_PRIMARY_DNS, value: u32(this.dns[0]!) });
    if (this.want.dns2) o.push({ type: OPT_SECONDARY_DNS, value: u32(this.dns[1]!) });
    return emitOptions(o);
  }

  checkRequest(options: Uint8Array): RequestVerdict {
    const list = parseOptions(options);
    if (list === undefined) return { code: Code.ConfigureReject, options };
    const reject: { type: number; value: Uint8Array }[] = [];
    const nak: { type: number; value: Uint8Array }[] = [];
    let peer = this.peer;
    let vjSend: VjAgreement | undefined;
    for (const { type, value } of list) {
      if (type === OPT_IP_ADDRESS && value.length === 4) {
        const a = readU32(value);
        const given = this.config.peerAddress;
        // A server decides the caller's address: any other is Nak'd with it (a caller may not pick a LAN host's).
        if (a !== 0 && (given === 0 || a === given)) peer = a;
        else if (given !== 0) nak.push({ type, value: u32(given) });
        else reject.push({ type, value }); // it wants an address and we have none to give
      } else if ((type === OPT_PRIMARY_DNS || type === OPT_SECONDARY_DNS) && value.length === 4) {
        const want = this.config.dnsForPeer[type === OPT_PRIMARY_DNS ? 0 : 1];
        if (want === undefined) reject.push({ type, value });
        else if (readU32(value) !== want) nak.push({ type, value: u32(want) });
      } else if (type === OPT_COMPRESSION && value.length === 4 && readU16(value) === PROTO_VJ_COMPRESSED && (this.config.vjSlots ?? 0) > 0) {
        // Any slot count the peer can keep is fine: we compress into at most that many.
        vjSend = { slots: Math.min(value[2]! + 1, MAX_SLOTS), omitSlotId: value[3] === 1 };
      } else {
        // Other compression protocols, RFC 1172's short VJ form, IP-Addresses, malformed options, anything unknown.
        reject.push({ type, value });
      }
    }
    const verdict = verdictOf(reject, nak);
    if (verdict.code === Code.ConfigureAck) {
      this.peer = peer;
      this.vjSend = vjSend;
    }
    return verdict;
  }

  acked(): void {}

  naked(options: Uint8Array): void {
    for (const { type, value } of parseOptions(options) ?? []) {
      if (value.length !== 4) continue;
      if (type === OPT_IP_ADDRESS) this.local = readU32(value);
      else if (type === OPT_PRIMARY_DNS) this.dns[0] = readU32(value);
      else if (type === OPT_SECONDARY_DNS) this.dns[1] = readU32(value);
    }
    // A Nak of our VJ offer names what the peer will do instead: fewer slots is fine, another protocol is not.
    for (const { type, value } of parseOptions(options) ?? []) {
      if (type !== OPT_COMPRESSION || this.vjReceive === undefined) continue;
      if (value.length === 4 && readU16(value) === PROTO_VJ_COMPRESSED) this.vjReceive = { slots: Math.min(value[2]! + 1, this.vjReceive.slots), omitSlotId: value[3] === 1 };
      else this.vjReceive = undefined;
    }
  }

  rejected(options: Uint8Array): void {
    for (const { type } of parseOptions(options) ?? []) {
      if (type === OPT_PRIMARY_DNS) this.want.dns1 = false;
      else if (type === OPT_SECONDARY_DNS) this.want.dns2 = false;
      else if (type === OPT_COMPRESSION) this.vjReceive = undefined;
      else if (type === OPT_IP_ADDRESS) this.events.note('ipcp_address_rejected', {});
    }
  }

  up(): void {
    const vj = { ...(this.vjReceive !== undefined ? { vjReceive: this.vjReceive } : {}), ...(this.vjSend !== undefined ? { vjSend: this.vjSend } : {}) };
    this.events.up({ localAddress: this.local, peerAddress: this.peer, dns: this.dns.filter((d) => d !== 0), ...vj });
  }

  down(): void {
    this.events.down();
  }

  started(): void {}

  finished(): void {
    this.events.finished();
  }

  /** A new dial: ask afresh (the ISP may hand out another address). */
  reset(): void {
    this.local = this.config.localAddress;
    this.dns = [0, 0];
    this.want.dns1 = this.want.dns2 = this.config.requestDns;
    this.peer = 0;
    this.vjReceive = this.offeredVj();
    this.vjSend = undefined;
  }
}
