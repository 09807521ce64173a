import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model, FADE_NS } from '../model.js';

// The events of `curl http://127.0.0.1:8080/hello` (docs/EVENTS.md), with
// the setup before it.
function oneRequest(conn = 1, fd = 7, port = 51234, t0 = 1e9) {
  let t = t0;
  const e = (o) => ({ t: (t += 1000), fd: -1, conn: 0, ret: 0, ...o });
  return [
    e({ layer: 'poller', op: 'ready', fd: 5, flags: 'IN', mode: 'read' }),
    e({ layer: 'fd', op: 'wake', fd: 5, mode: 'read' }),
    e({ layer: 'syscall', op: 'accept4', fd: 5, ret: fd, remote: `127.0.0.1:${port}` }),
    e({ layer: 'tcp', op: 'accept', fd, conn, local: '127.0.0.1:8080', remote: `127.0.0.1:${port}` }),
    e({ layer: 'tcp', op: 'state', fd, conn, to: 'ESTABLISHED', source: 'tcp_info' }),
    e({ layer: 'syscall', op: 'epoll_ctl', fd, conn }),
    e({ layer: 'syscall', op: 'read', fd, conn, ret: 78, bytes: 78, data: 'GET /hello HTTP/1.1\r\n' }),
    e({ layer: 'http', op: 'request', fd, conn, method: 'GET', target: '/hello', proto: 'HTTP/1.1' }),
    e({ layer: 'app', op: 'handler_start', fd, conn }),
    e({ layer: 'app', op: 'handler_end', fd, conn, status: 200 }),
    e({ layer: 'http', op: 'response', fd, conn, status: 200, bytes: 128 }),
    e({ layer: 'syscall', op: 'write', fd, conn, ret: 128, bytes: 128 }),
    e({ layer: 'http', op: 'idle', fd, conn }),
    e({ layer: 'syscall', op: 'read', fd, conn, ret: -1, errno: 'EAGAIN' }),
    e({ layer: 'fd', op: 'park', fd, conn, mode: 'read' }),
    e({ layer: 'poller', op: 'ready', fd, conn, flags: 'IN|RDHUP', mode: 'read' }),
    e({ layer: 'fd', op: 'wake', fd, conn, mode: 'read' }),
    e({ layer: 'syscall', op: 'read', fd, conn, ret: 0 }),
    e({ layer: 'tcp', op: 'state', fd, conn, from: 'ESTABLISHED', to: 'CLOSE_WAIT', source: 'tcp_info' }),
    e({ layer: 'http', op: 'close', fd, conn, msg: 'client closed' }),
    e({ layer: 'syscall', op: 'close', fd, conn }),
    e({ layer: 'tcp', op: 'close', fd, conn, bytes: 206 }),
  ];
}

function setup() {
  const m = new Model();
  const e = (o) => ({ t: 1000, fd: -1, conn: 0, ret: 0, ...o });
  for (const ev of [
    e({ layer: 'syscall', op: 'socket', ret: 5 }),
    e({ layer: 'syscall', op: 'bind', fd: 5 }),
    e({ layer: 'syscall', op: 'listen', fd: 5 }),
    e({ layer: 'syscall', op: 'epoll_create1', ret: 3 }),
    e({ layer: 'syscall', op: 'eventfd2', ret: 4 }),
    e({ layer: 'tcp', op: 'listen', fd: 5, local: '127.0.0.1:8080', max: 128 }),
  ]) m.apply(ev);
  return m;
}

test('the fd table of a fresh server', () => {
  const m = setup();
  assert.deepEqual(m.fdRows().map((r) => [r.fd, r.kind]), [[0, 'std'], [1, 'std'], [2, 'std'], [3, 'epoll'], [4, 'eventfd'], [5, 'listener']]);
  assert.equal(m.listener.backlog, 128);
  assert.equal(m.fds.get(5).local, '127.0.0.1:8080');
});

test('one request: the connection appears, moves bytes, closes', () => {
  const m = setup();
  const evs = oneRequest();
  for (const ev of evs.slice(0, 8)) m.apply(ev);
  const row = m.fds.get(7);
  assert.equal(row.kind, 'conn');
  assert.equal(row.conn, 1);
  assert.equal(row.remote, '127.0.0.1:51234');
  assert.equal(row.state, 'ESTABLISHED');
  assert.equal(row.source, 'tcp_info');
  assert.equal(row.bytesIn, 78);
  assert.equal(m.conns.get(1).requests, 1);
  assert.equal(m.conns.get(1).phase, 'reading');
  for (const ev of evs.slice(8)) m.apply(ev);
  const c = m.conns.get(1);
  assert.equal(c.bytesOut, 128);
  assert.equal(c.state, 'CLOSE_WAIT');
  assert.deepEqual(c.states.map((s) => s.to), ['ESTABLISHED', 'CLOSE_WAIT']);
  assert.ok(c.closed > 0);
  assert.ok(m.fds.get(7).closedAt > 0, 'closed fd stays, fading');
  assert.equal(m.liveConns().length, 0);
  assert.equal(m.counters.syscall, 5 + 7);
});

test('a reused fd number says which connection had it', () => {
  const m = setup();
  for (const ev of oneRequest(1, 7, 51234, 1e9)) m.apply(ev);
  for (const ev of oneRequest(2, 7, 51236, 2e9).slice(0, 5)) m.apply(ev);
  const row = m.fds.get(7);
  assert.equal(row.conn, 2);
  assert.equal(row.reusedFrom, 1);
  assert.ok(!row.closedAt);
  assert.equal(row.remote, '127.0.0.1:51236');
});

test('closed rows and connections fade out after a while', () => {
  const m = setup();
  const evs = oneRequest();
  for (const ev of evs) m.apply(ev);
  const end = evs[evs.length - 1].t;
  m.expire(end + 1e9);
  assert.ok(m.fds.has(7));
  // CLOSE_WAIT was its last kernel state: gone once the fade is over.
  m.apply({ layer: 'tcp', op: 'state', fd: -1, conn: 1, from: 'CLOSE_WAIT', to: 'CLOSED', source: 'sock_diag', t: end + 2e9 });
  assert.equal(m.expire(end + 2e9 + FADE_NS + 1), true);
  assert.ok(!m.fds.has(7));
  assert.ok(!m.conns.has(1));
});

test('a TIME_WAIT connection stays while the kernel keeps it', () => {
  const m = setup();
  const evs = oneRequest();
  for (const ev of evs) m.apply(ev);
  const end = evs[evs.length - 1].t;
  m.apply({ layer: 'tcp', op: 'state', fd: -1, conn: 1, from: 'CLOSED', to: 'TIME_WAIT', source: 'sock_diag', t: end + 1 });
  m.expire(end + 30e9);
  assert.equal(m.conns.get(1).state, 'TIME_WAIT');
  const counts = m.stateCounts();
  assert.deepEqual(counts.get('TIME_WAIT').map((w) => w.conn), [1]);
  assert.ok(counts.get('LISTEN'));
});

test('kernel sockets with no connection (sock_diag)', () => {
  const m = setup();
  m.apply({ layer: 'tcp', op: 'state', fd: -1, conn: 0, to: 'SYN_RECV', source: 'sock_diag', remote: '127.0.0.1:40000', t: 5 });
  m.apply({ layer: 'tcp', op: 'queue', fd: 5, n: 3, max: 128, source: 'sock_diag', t: 6 });
  assert.equal(m.sockets.get('127.0.0.1:40000').state, 'SYN_RECEIVED');
  assert.equal(m.listener.queue, 3);
  assert.equal(m.listener.peak, 3);
  m.apply({ layer: 'tcp', op: 'queue', fd: 5, n: 0, max: 128, t: 7 });
  assert.equal(m.listener.queue, 0);
  assert.equal(m.listener.peak, 3);
});

test('a snapshot replaces the state', () => {
  const m = setup();
  m.loadSnapshot({
    version: 1, seq: 1234, t: 5e10, engine: '127.0.0.1:8080',
    listener: { fd: 5, local: '127.0.0.1:8080', queue: 1, backlog: 128 },
    fds: [
      { fd: 0, kind: 'std', name: 'stdin' }, { fd: 3, kind: 'epoll' }, { fd: 4, kind: 'eventfd' },
      { fd: 5, kind: 'listener', local: '127.0.0.1:8080' },
      { fd: 7, kind: 'conn', conn: 9, local: '127.0.0.1:8080', remote: '127.0.0.1:51234', state: 'FIN_WAIT1', source: 'tcp_info', opened: 5e10, bytesIn: 78, bytesOut: 128, requests: 1 },
    ],
    conns: [{ id: 9, fd: 7, state: 'FIN_WAIT1', source: 'tcp_info', phase: 'idle', opened: 5e10, closed: 0, requests: 1, bytesIn: 78, bytesOut: 128, states: [{ t: 1, from: '', to: 'ESTABLISHED', source: 'tcp_info' }] }],
    kernel: [{ local: '127.0.0.1:8080', remote: '127.0.0.1:40001', state: 'SYN_RECV', source: 'sock_diag', t: 3, states: [] }],
    counters: { syscall: 9, app: 2 },
    control: { mode: 'step', pace: 0, pending: [{ op: 'read', layer: 'syscall', fd: 7, conn: 9 }] },
  });
  assert.equal(m.seq, 1234);
  assert.equal(m.epollFD, 3);
  assert.equal(m.fds.get(7).state, 'FIN_WAIT_1');
  assert.equal(m.conns.get(9).state, 'FIN_WAIT_1');
  assert.equal(m.sockets.get('127.0.0.1:40001').state, 'SYN_RECEIVED');
  assert.equal(m.control.mode, 'step');
  assert.equal(m.control.pending[0].op, 'read');
  assert.equal(m.counters.syscall, 9);
  assert.equal(m.counters.http, 0);
  assert.equal(m.listener.queue, 1);
});

test('summaries count without events', () => {
  const m = setup();
  const before = m.counters.syscall;
  m.addSummary({ count: 500, byLayer: { syscall: 400, http: 100 } });
  assert.equal(m.counters.syscall, before + 400);
  assert.equal(m.counters.http, 100);
});

test('closed connections are bounded', () => {
  const m = setup();
  for (let i = 1; i <= 400; i++) for (const ev of oneRequest(i, 7 + (i % 3), 40000 + i, i * 1e6)) m.apply(ev);
  assert.ok(m.conns.size <= 201, `${m.conns.size} connections kept`);
});
