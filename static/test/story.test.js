import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Story, TRAIL_LEN } from '../story.js';

const e = (o) => ({ fd: -1, conn: 0, ret: 0, ...o });

test('the wait chain: read → EAGAIN → park → epoll_wait woke → wake → read', () => {
  const s = new Story();
  const steps = [
    e({ seq: 1, layer: 'syscall', op: 'read', fd: 7, conn: 1, ret: -1, errno: 'EAGAIN' }),
    e({ seq: 2, layer: 'fd', op: 'park', fd: 7, conn: 1, mode: 'read' }),
    e({ seq: 3, layer: 'poller', op: 'ready', fd: 7, conn: 1, flags: 'IN', mode: 'read' }),
    e({ seq: 4, layer: 'fd', op: 'wake', fd: 7, conn: 1, mode: 'read', dur: 1503221 }),
    e({ seq: 5, layer: 'syscall', op: 'read', fd: 7, conn: 1, ret: 78 }),
  ];
  let c;
  for (const ev of steps) c = s.add(ev) ?? c;
  assert.ok(c.done);
  assert.deepEqual(c.steps.map((x) => x.text), [
    'read(7) = -1 EAGAIN', 'park (read)', 'epoll_wait woke fd 7 IN', 'wake after 1.5 ms', 'read(7) = 78',
  ]);
  assert.deepEqual(c.steps.map((x) => x.kind), ['eagain', 'park', 'ready', 'wake', 'retry']);
  assert.equal(s.chains.get(1), c);
});

test('a readiness latched before the park, and repeated ready reports, make one link', () => {
  const s = new Story();
  s.add(e({ layer: 'syscall', op: 'read', fd: 7, conn: 1, ret: -1, errno: 'EAGAIN' }));
  s.add(e({ layer: 'poller', op: 'ready', fd: 7, conn: 1, flags: 'IN|OUT' }));
  s.add(e({ layer: 'poller', op: 'ready', fd: 7, conn: 1, flags: 'IN|OUT|RDHUP' }));
  s.add(e({ layer: 'fd', op: 'park', fd: 7, conn: 1, mode: 'read' }));
  s.add(e({ layer: 'fd', op: 'wake', fd: 7, conn: 1, mode: 'read' }));
  const c = s.add(e({ layer: 'syscall', op: 'read', fd: 7, conn: 1, ret: 0 }));
  assert.deepEqual(c.steps.map((x) => x.kind), ['eagain', 'ready', 'park', 'wake', 'retry']);
  assert.equal(c.steps[1].text, 'epoll_wait woke fd 7 IN|OUT|RDHUP');
});

test('a write that waits for EPOLLOUT, and a timeout', () => {
  const s = new Story();
  s.add(e({ layer: 'syscall', op: 'write', fd: 8, conn: 2, ret: -1, errno: 'EAGAIN' }));
  assert.equal(s.chains.get(2).mode, 'write');
  s.add(e({ layer: 'fd', op: 'park', fd: 8, conn: 2, mode: 'write' }));
  const c = s.add(e({ layer: 'fd', op: 'timeout', fd: 8, conn: 2, mode: 'write', msg: 'write timeout' }));
  assert.ok(c.done);
  assert.equal(c.steps.at(-1).text, 'timeout: write timeout');
  // Events of other fds or connections do not join it.
  assert.equal(s.add(e({ layer: 'fd', op: 'wake', fd: 9, conn: 3 })), null);
});

test('a connection\'s trail starts at the accept that made it, without getsockopt', () => {
  const s = new Story();
  s.add(e({ layer: 'poller', op: 'ready', fd: 5, flags: 'IN' }));
  s.add(e({ layer: 'fd', op: 'wake', fd: 5 }));
  s.add(e({ layer: 'syscall', op: 'accept4', fd: 5, ret: 7 }));
  s.add(e({ layer: 'syscall', op: 'getsockopt', fd: 5 }));
  s.add(e({ layer: 'tcp', op: 'accept', fd: 7, conn: 1 }));
  assert.deepEqual(s.trail(1).map((x) => `${x.layer}:${x.op}`), ['poller:ready', 'fd:wake', 'syscall:accept4', 'tcp:accept']);
  assert.ok(s.saw(1, 'syscall:accept4'));
  assert.ok(!s.saw(1, 'syscall:getsockopt'));
  for (let i = 0; i < 50; i++) s.add(e({ layer: 'syscall', op: 'read', fd: 7, conn: 1, ret: 1 }));
  assert.equal(s.trail(1).length, TRAIL_LEN);
  assert.ok(s.saw(1, 'tcp:accept'), 'seen is kept even when the trail moved on');
});
