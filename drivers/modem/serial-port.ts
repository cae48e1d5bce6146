// Serial ports on the platform's own driver (serialport's native bindings), for the modem and
// the console. The driver is imported when the first port opens, not when the gateway loads,
// and without the `serialport` package, which also loads every parser and its mock driver:
// under emulation that package alone took 0.8 s of the boot (bench/boot.ts).

import { SerialPortStream } from '@serialport/stream';

/** A serial driver: the platform's, or a test's own line. */
export type SerialBinding = ConstructorParameters<typeof SerialPortStream>[0]['binding'];

export interface SerialSettings {
  path: string;
  baudRate: number;
  rtscts?: boolean;
}

let platform: Promise<SerialBinding> | undefined;

/** This platform's serial driver, loaded once. */
export function platformSerialBinding(): Promise<SerialBinding> {
  platform ??= import('@serialport/bindings-cpp').then((m) => m.autoDetect());
  return platform;
}

/** A port on `binding` (the platform's by default), opened. */
export async function openSerialPort(settings: SerialSettings, binding?: SerialBinding): Promise<SerialPortStream> {
  const port = new SerialPortStream({ ...settings, binding: binding ?? (await platformSerialBinding()), autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  return port;
}
