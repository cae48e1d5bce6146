// The connection table on its own: lookups both ways, removal, sweeping, eviction order, bounds.

import test from 'ava';
import { ConntrackTable, packPorts } from '../../firmware/core/conntrack/table.js';
import { FlowClass } from '../../firmware/core/conntrack/tcp-states.js';

const tuple = (i: number) => ({ src: 0x0a000000 + i, dst: 0x64400001, ports: packPorts(1024 + (i & 0xfff), 80) });
const reply = (i: number) => ({ src: 0x64400001, dst: 0xcb007102, ports: packPorts(80, 1024 + i) });

function fill(table: ConntrackTable, n: number, cls: FlowClass, from = 0, expires = 1e9): number[] {
  const ids: number[] = [];
  for (let i = from; i < from + n; i++) ids.push(table.insert(tuple(i), reply(i), 6, cls, expires, 0));
  return ids;
}

test('a flow is found by its original and its reply tuple, and gone after removal', (t) => {
  const table = new ConntrackTable(16, 7);
  const [id] = fill(table, 1, FlowClass.Unreplied);
  const o = tuple(0), r = reply(0);
  t.is(table.lookup(o.src, o.dst, o.ports, 6), id! * 2);
  t.is(table.lookup(r.src, r.dst, r.ports, 6), id! * 2 + 1);
  t.is(table.lookup(o.src, o.dst, o.ports, 17), -1, 'protocol is part of the key');
  t.is(table.src(id! * 2 + 1), r.src);
  table.remove(id!);
  t.is(table.lookup(o.src, o.dst, o.ports, 6), -1);
  t.is(table.size, 0);
  t.is(table.checkInvariants(), undefined);
});

test('removal keeps every other flow findable (backward-shift deletion)', (t) => {
  const table = new ConntrackTable(512, 1);
  const ids = fill(table, 500, FlowClass.Established);
  for (let k = 0; k < ids.length; k += 3) table.remove(ids[k]!);
  t.is(table.checkInvariants(), undefined);
  t.is(table.size, 500 - Math.ceil(500 / 3));
});

test('the sweep removes expired flows only', (t) => {
  const table = new ConntrackTable(64, 3);
  fill(table, 10, FlowClass.Unreplied, 0, 1000);
  fill(table, 10, FlowClass.Established, 10, 5000);
  t.is(table.sweep(2000, 64), 10);
  t.is(table.size, 10);
  t.is(table.counters.expired, 10);
});

test('a full table evicts unreplied, then closing, and established only when nothing else is left', (t) => {
  const table = new ConntrackTable(6, 5);
  fill(table, 2, FlowClass.Established, 0);
  fill(table, 2, FlowClass.Closing, 2);
  fill(table, 2, FlowClass.Unreplied, 4);
  fill(table, 2, FlowClass.Established, 6);
  t.is(table.counters.evictedUnreplied, 2);
  t.is(table.classCount(FlowClass.Established), 4);
  fill(table, 2, FlowClass.Established, 8);
  t.is(table.counters.evictedClosing, 2);
  t.is(table.counters.evictedEstablished, 0, 'no established flow went while others existed');
  fill(table, 1, FlowClass.Established, 10);
  t.is(table.counters.evictedEstablished, 1);
  t.is(table.size, 6);
  t.is(table.checkInvariants(), undefined);
});

test('an expired flow is reclaimed before any live one is evicted', (t) => {
  const table = new ConntrackTable(2, 9);
  table.insert(tuple(0), reply(0), 6, FlowClass.Established, 10, 0);
  table.insert(tuple(1), reply(1), 6, FlowClass.Unreplied, 1e9, 0);
  table.insert(tuple(2), reply(2), 6, FlowClass.Unreplied, 1e9, 100);
  t.is(table.counters.expired, 1);
  t.is(table.counters.evictedUnreplied, 0);
});

test('a table that cannot evict refuses and counts the pressure', (t) => {
  const table = new ConntrackTable(1, 2);
  t.is(table.insert(tuple(0), reply(0), 6, FlowClass.Established, 1e9, 0), 0);
  // Capacity 1 still evicts the one established flow: refusal happens only with nothing live to take.
  t.is(table.insert(tuple(1), reply(1), 6, FlowClass.Established, 1e9, 0), 0);
  t.is(table.counters.evictedEstablished, 1);
});

test('the memory per flow stays under 128 bytes', (t) => {
  const table = new ConntrackTable(1 << 16, 1);
  t.true(table.memoryBytes / table.capacity <= 128, `${table.memoryBytes / table.capacity} bytes per flow`);
});

test('records are handed out from the bottom, a freed one reused first; a flow that never was is not removed', (t) => {
  const table = new ConntrackTable(1 << 20, 5);
  t.deepEqual(fill(table, 3, FlowClass.Unreplied), [0, 1, 2]);
  table.remove(1);
  t.is(fill(table, 1, FlowClass.Unreplied, 3)[0], 1, 'the freed record before a new one');
  t.is(fill(table, 1, FlowClass.Unreplied, 4)[0], 3);
  table.remove(500_000);
  t.is(table.size, 4);
  let seen = 0;
  table.forEachLive(() => void seen++);
  t.is(seen, 4);
  t.is(table.sweep(1e10, 1 << 20), 4, 'the sweep reaches every flow, however large the table');
  t.is(table.checkInvariants(), undefined);
});
