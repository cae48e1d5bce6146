// LEDs: GPIO pins through `onoff` (sysfs GPIO), and the board's own LEDs through
// /sys/class/leds (ACT, PWR). Pins are named by their BCM numbers, as printed on every Pi
// pin-out chart; the kernel numbers them from its GPIO chip's base (458 on Debian's 6.1 kernel,
// 512 on 6.12), read from /sys/class/gpio/gpiochip*/{label,base}. Every path comes from one
// sysfs root, so tests point it at a temporary tree (onoff's own /sys/class/gpio is fixed: the
// tests bind-mount the tree's over it in a private mount namespace).
//
// LEDs fail safe: a missing pin, a busy one or no sysfs at all is reported once, and that LED
// is simply dark; nothing here throws after open.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { Gpio as OnoffGpio } from 'onoff';
import type { Clock } from '../../firmware/clock.js';

export interface Led {
  readonly name: string;
  set(on: boolean): void;
  /** The level as the kernel reports it now (sysfs read back); undefined when unreadable. */
  read(): number | undefined;
  /**
   * How to light this LED without us: a line of the file the image's supervisor reads to show
   * the gateway is down (image/down-led): `gpio N ACTIVE_LOW` or `led DIR`.
   */
  readonly downLine: string;
  close(): void;
}

/** Labels of the pin controller behind the 40-pin header: BCM2835/6/7 and BCM2711 (Pi 3, 4, Zero 2 W, CM4), RP1 (Pi 5). */
const PI_PIN_CONTROLLER = /^pinctrl-(bcm\d+|rp1)$/;

/** The kernel's number for a BCM pin: the main GPIO chip's base plus the pin. */
export function bcmToGpio(sysRoot: string, bcm: number): number {
  const dir = join(sysRoot, 'class/gpio');
  const chips = readdirSync(dir).filter((n) => n.startsWith('gpiochip'));
  const found = chips
    .map((n) => ({ label: read(join(dir, n, 'label')), base: Number(read(join(dir, n, 'base'))), ngpio: Number(read(join(dir, n, 'ngpio')) || 0) }))
    .filter((c) => PI_PIN_CONTROLLER.test(c.label));
  if (found.length === 0) throw new Error(`no Raspberry Pi GPIO chip in ${dir} (labels: ${chips.map((n) => read(join(dir, n, 'label'))).join(', ') || 'none'})`);
  const chip = found.sort((a, b) => a.base - b.base)[0]!;
  if (chip.ngpio > 0 && bcm >= chip.ngpio) throw new Error(`BCM ${bcm} is beyond ${chip.label}'s ${chip.ngpio} pins`);
  return chip.base + bcm;
}

/** A LED on a GPIO pin, driven through onoff. */
class GpioLed implements Led {
  private last: boolean | undefined;

  readonly downLine: string;

  constructor(readonly name: string, private readonly gpio: OnoffGpio, private readonly valueFile: string, number: number, activeLow: boolean, private readonly problem: (e: Error) => void) {
    this.downLine = `gpio ${number} ${activeLow ? 1 : 0}`;
  }

  read(): number | undefined {
    return readLevel(this.valueFile);
  }

  set(on: boolean): void {
    if (on === this.last) return;
    this.last = on;
    try {
      this.gpio.writeSync(on ? 1 : 0);
    } catch (e) {
      this.problem(e as Error);
    }
  }

  close(): void {
    try {
      this.gpio.writeSync(0);
      this.gpio.unexport();
    } catch {
      // Going away anyway.
    }
  }
}

/** One of the board's own LEDs: its trigger set to `none` so the kernel lets go, brightness written; the trigger restored on close. */
class BoardLed implements Led {
  private last: boolean | undefined;
  private readonly max: string;
  private readonly oldTrigger: string | undefined;

  readonly downLine: string;

  constructor(readonly name: string, private readonly dir: string, private readonly problem: (e: Error) => void) {
    this.downLine = `led ${dir}`;
    this.oldTrigger = /\[([^\]]+)\]/.exec(read(join(dir, 'trigger')))?.[1];
    writeFileSync(join(dir, 'trigger'), 'none');
    this.max = read(join(dir, 'max_brightness')) || '1';
  }

  set(on: boolean): void {
    if (on === this.last) return;
    this.last = on;
    try {
      writeFileSync(join(this.dir, 'brightness'), on ? this.max : '0');
    } catch (e) {
      this.problem(e as Error);
    }
  }

  read(): number | undefined {
    return readLevel(join(this.dir, 'brightness'));
  }

  close(): void {
    try {
      writeFileSync(join(this.dir, 'brightness'), '0');
      if (this.oldTrigger !== undefined) writeFileSync(join(this.dir, 'trigger'), this.oldTrigger);
    } catch {
      // Going away anyway.
    }
  }
}

export interface LedPins {
  /** BCM numbers; undefined: not wired. */
  status?: number;
  wan?: number;
  lan?: number;
  activeLow: boolean;
  /** Also drive the board's own LEDs: PWR (red) shows the status LED, ACT (green) the WAN LED. */
  onboard: boolean;
}

export type LedRole = 'status' | 'wan' | 'lan';

/** What could be opened, per role (a role may have a pin and a board LED), and what could not. */
export interface OpenedLeds {
  leds: Map<LedRole, Led[]>;
  problems: string[];
}

const BOARD_LEDS: Partial<Record<LedRole, readonly string[]>> = { status: ['PWR', 'led1'], wan: ['ACT', 'led0'] };
const EXPORT_WAIT_MS = 1000;

/**
 * Opens every LED the config names. Never throws: what fails is listed in `problems` and left
 * dark. `onoff` is loaded only when a pin is configured (it needs /sys/class/gpio).
 */
export async function openLeds(pins: LedPins, sysRoot: string, clock: Clock, onProblem: (led: string, e: Error) => void): Promise<OpenedLeds> {
  const leds = new Map<LedRole, Led[]>();
  const problems: string[] = [];
  const add = (role: LedRole, led: Led): void => void leds.set(role, [...(leds.get(role) ?? []), led]);
  const fail = (what: string, e: unknown): void => void problems.push(`${what}: ${(e as Error).message}`);
  for (const role of ['status', 'wan', 'lan'] as const) {
    const bcm = pins[role];
    if (bcm === undefined) continue;
    const name = `${role} (BCM ${bcm})`;
    try {
      const gpio = bcmToGpio(sysRoot, bcm);
      await exportPin(sysRoot, gpio, clock);
      const { Gpio } = loadOnoff();
      const led = new Gpio(gpio, 'out', 'none', { activeLow: pins.activeLow });
      add(role, new GpioLed(name, led, join(sysRoot, 'class/gpio', `gpio${gpio}`, 'value'), gpio, pins.activeLow, (e) => onProblem(name, e)));
    } catch (e) {
      fail(name, e);
    }
  }
  if (pins.onboard) {
    for (const [role, names] of Object.entries(BOARD_LEDS) as [LedRole, string[]][]) {
      const found = names.map((n) => join(sysRoot, 'class/leds', n)).find((d) => existsSync(join(d, 'brightness')));
      if (found === undefined) {
        fail(`on-board ${names[0]}`, new Error(`no ${names.join(' or ')} in ${join(sysRoot, 'class/leds')}`));
        continue;
      }
      const name = `on-board ${names[0]}`;
      try {
        add(role, new BoardLed(name, found, (e) => onProblem(name, e)));
      } catch (e) {
        fail(name, e);
      }
    }
  }
  return { leds, problems };
}

/**
 * Exports a pin and waits (bounded) for the kernel to create its folder: onoff waits for it
 * without a limit, which would hang the gateway on a pin the kernel refuses.
 */
async function exportPin(sysRoot: string, gpio: number, clock: Clock): Promise<void> {
  const dir = join(sysRoot, 'class/gpio', `gpio${gpio}`);
  if (existsSync(join(dir, 'value'))) return;
  try {
    writeFileSync(join(sysRoot, 'class/gpio/export'), String(gpio));
  } catch (e) {
    throw new Error(`cannot export GPIO ${gpio}: ${(e as Error).message} (is the pin used by another driver?)`);
  }
  for (let waited = 0; !existsSync(join(dir, 'value')); waited += 20) {
    if (waited >= EXPORT_WAIT_MS) throw new Error(`GPIO ${gpio} was exported but ${dir} did not appear`);
    await clock.sleep(20);
  }
}

function loadOnoff(): { Gpio: typeof OnoffGpio } {
  return createRequire(import.meta.url)('onoff') as { Gpio: typeof OnoffGpio };
}

function readLevel(path: string): number | undefined {
  const v = read(path);
  return v === '' ? undefined : Number(v);
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}
