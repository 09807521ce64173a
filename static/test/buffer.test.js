import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Playback, SPEEDS } from '../buffer.js';

const evs = (n, from = 1) => Array.from({ length: n }, (_, i) => ({ seq: from + i, t: (from + i) * 1000, layer: 'syscall', op: 'read' }));

test('live speed plays everything at once, in order', () => {
  const p = new Playback();
  p.push(evs(5), 0);
  assert.deepEqual(p.take(16).map((e) => e.seq), [1, 2, 3, 4, 5]);
  assert.equal(p.length, 0);
  assert.deepEqual(p.take(32), []);
});

test('live speed bounds one frame', () => {
  const p = new Playback({ maxPerFrame: 3 });
  p.push(evs(7), 0);
  assert.equal(p.take(16).length, 3);
  assert.equal(p.take(32).length, 3);
  assert.equal(p.take(48).length, 1);
});

test('slow motion plays at the chosen rate, without banking a burst', () => {
  const p = new Playback();
  p.setSpeed('2'); // 2 events a second
  p.take(0);
  p.push(evs(10), 0);
  const played = [];
  for (let now = 0; now <= 3000; now += 16) played.push(...p.take(now));
  // 1 at once, then one each 500 ms: 7 in 3 s.
  assert.ok(played.length >= 6 && played.length <= 8, `played ${played.length}`);
  assert.deepEqual(played.map((e) => e.seq), played.map((_, i) => i + 1));
  // Idle for a minute, then a burst: still one at a time.
  for (let now = 3000; now <= 63000; now += 1000) p.take(now);
  p.catchUp();
  p.push(evs(5, 100), 63000);
  assert.equal(p.take(63016).length, 1);
  assert.equal(p.take(63032).length, 0);
});

test('pause stops playing, not buffering', () => {
  const p = new Playback();
  p.pause();
  p.push(evs(3), 0);
  assert.deepEqual(p.take(16), []);
  p.push(evs(2, 4), 20);
  assert.equal(p.length, 5);
  const b = p.behind(1020);
  assert.equal(b.count, 5);
  assert.equal(b.ms, 1020);
  p.resume();
  assert.equal(p.take(1036).length, 5);
  assert.equal(p.behind(1040).count, 0);
});

test('step plays one event even when paused', () => {
  const p = new Playback();
  p.pause();
  p.push(evs(3), 0);
  assert.deepEqual(p.step().map((e) => e.seq), [1]);
  assert.deepEqual(p.step().map((e) => e.seq), [2]);
  assert.equal(p.length, 1);
});

test('catch up returns everything waiting', () => {
  const p = new Playback();
  p.setSpeed('0.5');
  p.push(evs(100), 0);
  p.take(0);
  assert.equal(p.catchUp().length, 99);
  assert.equal(p.length, 0);
});

test('behind reports engine time between played and received', () => {
  const p = new Playback();
  p.setSpeed('1');
  p.take(0);
  p.push(evs(4), 0); // t = 1000 … 4000 ns
  p.take(16); // plays seq 1
  const b = p.behind(500);
  assert.equal(b.count, 3);
  assert.equal(b.engineNs, 3000);
});

test('a full queue hands its oldest out instead of growing', () => {
  const p = new Playback({ capacity: 10 });
  p.pause();
  p.push(evs(25), 0);
  assert.equal(p.length, 10);
  assert.equal(p.skipped, 15);
  const over = p.takeOverflow();
  assert.deepEqual(over.map((e) => e.seq), Array.from({ length: 15 }, (_, i) => i + 1));
  assert.deepEqual(p.takeOverflow(), []);
  p.resume();
  assert.deepEqual(p.take(16).map((e) => e.seq)[0], 16);
});

test('dropThrough removes what a snapshot already holds', () => {
  const p = new Playback();
  p.pause();
  p.push(evs(10), 0);
  assert.deepEqual(p.dropThrough(4).map((e) => e.seq), [1, 2, 3, 4]);
  assert.equal(p.peek().seq, 5);
});

test('speeds run from real time to slow motion', () => {
  const p = new Playback();
  assert.equal(p.speed.id, 'live');
  assert.equal(SPEEDS[0].rate, Infinity);
  for (let i = 0; i < 20; i++) p.slower();
  assert.equal(p.speed.id, SPEEDS[SPEEDS.length - 1].id);
  for (let i = 0; i < 20; i++) p.faster();
  assert.equal(p.speed.id, 'live');
  assert.equal(p.setSpeed('nonsense').id, 'live');
  for (let i = 1; i < SPEEDS.length; i++) assert.ok(SPEEDS[i].rate < SPEEDS[i - 1].rate);
});

test('a long session does not keep played events', () => {
  const p = new Playback();
  for (let i = 0; i < 100; i++) {
    p.push(evs(1000, i * 1000 + 1), i);
    p.take(i);
  }
  assert.ok(p.q.length < 10000, `queue array holds ${p.q.length}`);
});
