// The PPP lab (DESIGN.md, test lab): a LAN host and the gateway in namespaces, the gateway's
// modem a pty from the Hayes emulator, and behind it the ISP: Debian's pppd in a QEMU guest.
// ISP side 10.64.0.1, gateway 10.64.0.2 (or what the test has the ISP hand out).

import { join } from 'node:path';
import { IspGuest } from './isp.js';
import { ModemEmulator } from './modem-emulator.js';
import { LAN_GATEWAY, NetLab } from './netlab.js';

export const ISP_ADDRESS = '10.64.0.1';

export interface PppSettings {
  password?: string;
  holdoff?: number;
  echoInterval?: number;
  echoFailure?: number;
  pin?: string;
  authRetry?: number;
  device?: string;
}

export class PppLab {
  private constructor(readonly net: NetLab, readonly guest: IspGuest, readonly modem: ModemEmulator) {}

  static async create(tag: string, bps: number): Promise<PppLab> {
    return PppLab.attach(new NetLab(tag), bps);
  }

  /** The ISP and the modem for an existing namespace lab (destroyed with it on failure). */
  static async attach(net: NetLab, bps: number): Promise<PppLab> {
    let guest: IspGuest | undefined;
    try {
      guest = await IspGuest.start(join(net.dir, 'isp'));
      const modem = new ModemEmulator({ dir: net.dir, bps, guest });
      await modem.start();
      return new PppLab(net, guest, modem);
    } catch (e) {
      guest?.stop();
      net.destroy();
      throw e;
    }
  }

  config(s: PppSettings = {}, extra = ''): string {
    return [
      '[lan]', 'interface = "lan0"', `address = "${LAN_GATEWAY}/24"`,
      '[wan]', 'type = "ppp"',
      '[modem]', `device = "${s.device ?? this.modem.device}"`, 'init = ["ATZ", "ATE0V1"]', 'dial = "ATDT5551234"', 'flow_control = "none"', `pin = "${s.pin ?? ''}"`,
      '[ppp]', 'user = "gateway"', `password = "${s.password ?? 's3cret'}"`, `holdoff = ${s.holdoff ?? 1}`, `auth_retry = ${s.authRetry ?? 300}`,
      `lcp_echo_interval = ${s.echoInterval ?? 2}`, `lcp_echo_failure = ${s.echoFailure ?? 3}`,
      '[log]', 'level = "debug"', extra,
    ].join('\n');
  }

  destroy(): void {
    this.modem.stop();
    this.guest.stop();
    this.net.destroy();
  }
}
