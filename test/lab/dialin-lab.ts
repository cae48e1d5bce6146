// The dial-in lab: the LAN host and the gateway in namespaces with an Ethernet WAN (a web server
// at 203.0.113.1), and a second modem: the Hayes emulator's pty, which rings the gateway and, on
// ATA, joins the line to a caller in a QEMU guest (the PPP lab's guest, test/lab/isp: Debian's
// pppd as the caller, or chat and slattach for SLIP).

import { join } from 'node:path';
import { IspGuest } from './isp.js';
import { ModemEmulator } from './modem-emulator.js';
import { NetLab } from './netlab.js';

export const USERS = { alice: 'wonderland', bob: 'builder' } as const;
/** bob's fixed address. */
export const BOB_ADDRESS = '192.168.0.205';

export class DialinLab {
  /** The guest's event count when the last call began: its events come after. */
  callEvents = 0;

  private constructor(readonly net: NetLab, readonly guest: IspGuest, readonly modem: ModemEmulator) {}

  static async create(tag: string, bps = 115_200, net = new NetLab(tag)): Promise<DialinLab> {
    let guest: IspGuest | undefined;
    try {
      guest = await IspGuest.start(join(net.dir, 'caller'));
      const modem = new ModemEmulator({ dir: join(net.dir, 'caller'), bps, guest });
      await modem.start();
      return new DialinLab(net, guest, modem);
    } catch (e) {
      guest?.stop();
      net.destroy();
      throw e;
    }
  }

  /** The [[dialin]] section for the emulator's modem. */
  dialinConfig(extra = ''): string {
    return [
      '[[dialin]]', `device = "${this.modem.device}"`, 'flow_control = "none"', 'init = ["ATZ", "ATS0=0"]', 'rings = 2', 'dns = ["203.0.113.1"]', extra,
      '[dialin.users]', `alice = "${USERS.alice}"`, `bob = { password = "${USERS.bob}", address = "${BOB_ADDRESS}" }`,
    ].join('\n');
  }

  /** Rings the gateway with `caller` on the line and waits until the guest's caller is connected. */
  async call(caller: string): Promise<number> {
    this.modem.caller = caller;
    const from = this.guest.events.length;
    this.callEvents = from;
    this.modem.ring();
    await this.guest.waitFor(/^ok caller$/, 30_000, from);
    return this.modem.currentCall;
  }

  /** Runs a shell command in the caller's guest; its exit code. */
  async run(command: string, timeoutMs = 60_000): Promise<number> {
    const id = Math.floor(Math.random() * 1e9);
    const from = this.guest.events.length;
    await this.guest.command(`run ${id} ${command}`);
    const line = await this.guest.waitFor(new RegExp(`^run-exit ${id} `), timeoutMs, from);
    return Number(line.split(' ')[2]);
  }

  destroy(): void {
    this.modem.stop();
    this.guest.stop();
    this.net.destroy();
  }
}
