// IPCP (RFC 1332) with the DNS server options of RFC 1877: our address and name servers come
// from the peer's Naks; as a server we hand the peer its address. VJ header compression and
// the old IP-Addresses option are refused with Configure-Reject.

import { emitOptions, parseOptions, readU32, u32 } from './control.js';
import { Code, Fsm, verdictOf, type FsmConfig, type FsmEvents, type FsmProtocol, type RequestVerdict } from './fsm.js';

// Also known, and rejected: 1 IP-Addresses (deprecated, RFC 1332 §3.1) and 2 IP-Compression-
// Protocol (Van Jacobson, §3.2: not implemented).
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
}

export interface IpcpAgreement {
  localAddress: number;
  peerAddress: number;
  dns: number[];
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

  constructor(private readonly config: IpcpConfig, private readonly events: IpcpEvents, fsmConfig?: FsmConfig) {
    this.fsm = new Fsm(this, events, fsmConfig);
    this.local = config.localAddress;
    this.want.dns1 = this.want.dns2 = config.requestDns;
  }

  requestOptions(): Uint8Array {
    const o = [{ type: OPT_IP_ADDRESS, value: u32(this.local) }];
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
    for (const { type, value } of list) {
      if (type === OPT_IP_ADDRESS && value.length === 4) {
        const a = readU32(value);
        if (a !== 0) peer = a;
        else if (this.config.peerAddress !== 0) nak.push({ type, value: u32(this.config.peerAddress) });
        else reject.push({ type, value }); // it wants an address and we have none to give
      } else if ((type === OPT_PRIMARY_DNS || type === OPT_SECONDARY_DNS) && value.length === 4) {
        const want = this.config.dnsForPeer[type === OPT_PRIMARY_DNS ? 0 : 1];
        if (want === undefined) reject.push({ type, value });
        else if (readU32(value) !== want) nak.push({ type, value: u32(want) });
      } else {
        // VJ compression, IP-Addresses, malformed options and anything unknown.
        reject.push({ type, value });
      }
    }
    const verdict = verdictOf(reject, nak);
    if (verdict.code === Code.ConfigureAck) this.peer = peer;
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
  }

  rejected(options: Uint8Array): void {
    for (const { type } of parseOptions(options) ?? []) {
      if (type === OPT_PRIMARY_DNS) this.want.dns1 = false;
      else if (type === OPT_SECONDARY_DNS) this.want.dns2 = false;
      else if (type === OPT_IP_ADDRESS) this.events.note('ipcp_address_rejected', {});
    }
  }

  up(): void {
    this.events.up({ localAddress: this.local, peerAddress: this.peer, dns: this.dns.filter((d) => d !== 0) });
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
  }
}
