// PacketLink over the in-memory ring (no root): a link whose interface's MTU grows past what its
// receive ring's slots hold opens the ring again, and keeps the old one when that fails.

import test from 'ava';
import { MemoryRingBinding } from '../../drivers/nic/memory-ring.js';
import { PacketLink } from '../../drivers/nic/packet-link.js';
import { ManualClock } from '../../firmware/clock.js';

const MAC = Uint8Array.of(2, 0, 0, 0, 0, 1);

function frame(size: number): Uint8Array {
  const f = new Uint8Array(size);
  f[12] = 0x88;
  f[13] = 0xb5;
  return f;
}

/** A binding whose open can be made to fail (a ring the kernel cannot allocate). */
class FlakyRing extends MemoryRingBinding {
  failOpen = false;
  override open(name: string): ReturnType<MemoryRingBinding['open']> {
    if (this.failOpen) throw new Error(`PACKET_RX_RING ${name}: Cannot allocate memory`);
    return super.open(name);
  }
}

function started(ring: MemoryRingBinding): { link: PacketLink; clock: ManualClock; sizes: number[]; mtus: number[] } {
  ring.addInterface('eth0', MAC);
  const clock = new ManualClock();
  const link = new PacketLink('eth0', { binding: ring, clock, statePollMs: 1000 });
  const sizes: number[] = [];
  const mtus: number[] = [];
  link.start((_frames, starts, ends, n) => {
    for (let i = 0; i < n; i++) sizes.push(ends[i]! - starts[i]!);
  }, (s) => mtus.push(s.mtu));
  return { link, clock, sizes, mtus };
}

test('an MTU grown past the ring\'s slots: the ring is opened again, and jumbo frames arrive', (t) => {
  const ring = new MemoryRingBinding();
  const { link, clock, sizes, mtus } = started(ring);
  ring.inject('eth0', frame(9014));
  t.deepEqual(sizes, [], 'too big for the slots: truncated, so dropped');
  t.is(link.stats()['truncated'], 1);
  ring.setMtu('eth0', 9000);
  clock.advance(1000);
  t.deepEqual(mtus, [1500, 9000]);
  ring.inject('eth0', frame(9014));
  ring.inject('eth0', frame(60));
  t.deepEqual(sizes, [9014, 60]);
  t.is(link.stats()['truncated'], 0, 'the new ring counts afresh');
  link.close();
  t.false(ring.isOpen('eth0'));
});

test('when the larger ring cannot be opened, the old one goes on and the next poll tries again', (t) => {
  const ring = new FlakyRing();
  const { link, clock, sizes, mtus } = started(ring);
  ring.failOpen = true;
  ring.setMtu('eth0', 9000);
  clock.advance(1000);
  t.deepEqual(mtus, [1500, 9000], 'the interface\'s MTU is reported all the same');
  ring.inject('eth0', frame(60));
  ring.inject('eth0', frame(9014));
  t.deepEqual(sizes, [60], 'the old ring still receives what fits it');
  ring.failOpen = false;
  clock.advance(1000);
  ring.inject('eth0', frame(9014));
  t.deepEqual(sizes, [60, 9014]);
  link.close();
});
