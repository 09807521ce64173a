import { test } from 'node:test';
import assert from 'node:assert/strict';
import { callText, eventText, fmtBytes, fmtDur, isError, retText, straceLine, visibleBytes, visibleText, shorten, fmtCount } from '../format.js';

test('callText writes a syscall the way the bands show it', () => {
  const cases = [
    [{ layer: 'syscall', op: 'accept4', fd: 4, ret: 7 }, 'accept4(4) = 7'],
    [{ layer: 'syscall', op: 'read', fd: 7, ret: -1, errno: 'EAGAIN' }, 'read(7) = -1 EAGAIN'],
    [{ layer: 'syscall', op: 'read', fd: 7, ret: 78, bytes: 78 }, 'read(7) = 78'],
    [{ layer: 'syscall', op: 'write', fd: 7, ret: -1, errno: 'EPIPE' }, 'write(7) = -1 EPIPE'],
    [{ layer: 'syscall', op: 'close', fd: 7, ret: 0 }, 'close(7) = 0'],
    [{ layer: 'syscall', op: 'epoll_wait', fd: 3, ret: 2 }, 'epoll_wait(3) = 2'],
    [{ layer: 'syscall', op: 'socket', fd: -1, args: 'AF_INET, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0', ret: 5 }, 'socket(AF_INET, …) = 5'],
    [{ layer: 'syscall', op: 'epoll_create1', fd: -1, args: 'EPOLL_CLOEXEC', ret: 3 }, 'epoll_create1(EPOLL_CLOEXEC) = 3'],
    [{ layer: 'syscall', op: 'eventfd2', fd: -1, ret: 4 }, 'eventfd2() = 4'],
  ];
  for (const [ev, want] of cases) assert.equal(callText(ev), want);
});

test('straceLine has the arguments and the duration', () => {
  assert.equal(straceLine({ layer: 'syscall', op: 'read', fd: 7, args: '7, 4096', ret: 78, dur: 12000 }), 'read(7, 4096) = 78 <0.000012>');
  assert.equal(straceLine({ layer: 'syscall', op: 'read', fd: 7, args: '7, 4096', ret: -1, errno: 'EAGAIN' }), 'read(7, 4096) = -1 EAGAIN');
  assert.equal(straceLine({ layer: 'syscall', op: 'close', fd: 7, ret: 0 }), 'close(7) = 0');
  assert.equal(straceLine({ layer: 'fd', op: 'park', fd: 7, conn: 1, mode: 'read' }), 'park read fd 7');
  assert.equal(straceLine({ layer: 'tcp', op: 'state', fd: 7, conn: 1, from: 'ESTABLISHED', to: 'CLOSE_WAIT', source: 'tcp_info' }), 'state: ESTABLISHED → CLOSE_WAIT (tcp_info)');
});

test('retText', () => {
  assert.equal(retText({ ret: 0 }), '0');
  assert.equal(retText({ ret: -1, errno: 'ECONNRESET' }), '-1 ECONNRESET');
  assert.equal(retText({}), '0');
});

test('eventText covers every op of docs/EVENTS.md', () => {
  const evs = [
    [{ layer: 'poller', op: 'wait', fd: 3 }, 'epoll_wait(3) blocking…'],
    [{ layer: 'poller', op: 'ready', fd: 7, conn: 1, flags: 'IN', mode: 'read' }, 'fd 7 IN → conn 1 read'],
    [{ layer: 'poller', op: 'stale', fd: 7, flags: 'IN' }, 'stale fd 7 IN (ignored)'],
    [{ layer: 'fd', op: 'park', fd: 7, mode: 'read' }, 'park read fd 7'],
    [{ layer: 'fd', op: 'wake', fd: 7, mode: 'read', dur: 1503221 }, 'wake read fd 7 after 1.5 ms'],
    [{ layer: 'fd', op: 'timeout', fd: 7, mode: 'read', msg: 'idle timeout' }, 'timeout read fd 7: idle timeout'],
    [{ layer: 'tcp', op: 'listen', fd: 5, local: '127.0.0.1:8080', max: 128 }, 'listen 127.0.0.1:8080 backlog 128'],
    [{ layer: 'tcp', op: 'accept', fd: 7, conn: 1, remote: '127.0.0.1:51234' }, 'accept conn 1 fd 7 ← 127.0.0.1:51234'],
    [{ layer: 'tcp', op: 'state', fd: 7, conn: 1, from: 'ESTABLISHED', to: 'CLOSE_WAIT', source: 'tcp_info' }, 'ESTABLISHED → CLOSE_WAIT (tcp_info)'],
    [{ layer: 'tcp', op: 'queue', fd: 5, n: 2, max: 128 }, 'accept queue 2/128'],
    [{ layer: 'tcp', op: 'close', fd: 7, conn: 1, bytes: 212 }, 'close conn 1 · 212 B'],
    [{ layer: 'tcp', op: 'backoff', fd: 5, errno: 'EMFILE', dur: 5e6 }, 'accept backoff EMFILE 5 ms'],
    [{ layer: 'http', op: 'request', method: 'GET', target: '/hello', proto: 'HTTP/1.1' }, 'GET /hello HTTP/1.1'],
    [{ layer: 'http', op: 'continue' }, '100 Continue'],
    [{ layer: 'http', op: 'response', status: 200, bytes: 128 }, '→ 200 · 128 B'],
    [{ layer: 'http', op: 'error', status: 431, msg: 'request header too large' }, 'error 431: request header too large'],
    [{ layer: 'http', op: 'idle' }, 'idle (keep-alive)'],
    [{ layer: 'http', op: 'drain', bytes: 1000000, msg: 'linger' }, 'drain 976.6 KiB (linger)'],
    [{ layer: 'http', op: 'close', msg: 'client closed' }, 'close: client closed'],
    [{ layer: 'app', op: 'handler_start', method: 'GET', target: '/hello' }, 'ServeHTTP GET /hello'],
    [{ layer: 'app', op: 'handler_end', status: 200, dur: 41200 }, 'return 200 in 41.2 µs'],
    [{ layer: 'app', op: 'panic', msg: 'boom' }, 'panic: boom'],
    [{ layer: 'app', op: 'something_new', fd: 3 }, 'something_new fd 3'],
  ];
  for (const [ev, want] of evs) assert.equal(eventText(ev), want, JSON.stringify(ev));
});

test('request data stays a string with its markup intact', () => {
  const ev = { layer: 'http', op: 'request', method: 'GET', target: '/<script>alert(1)</script>', proto: 'HTTP/1.1' };
  assert.equal(eventText(ev), 'GET /<script>alert(1)</script> HTTP/1.1');
});

test('isError', () => {
  assert.equal(isError({ layer: 'syscall', ret: -1, errno: 'EAGAIN' }), false);
  assert.equal(isError({ layer: 'syscall', ret: -1, errno: 'ECONNRESET' }), true);
  assert.equal(isError({ layer: 'syscall', ret: 3 }), false);
  assert.equal(isError({ layer: 'http', op: 'error' }), true);
  assert.equal(isError({ layer: 'fd', op: 'timeout' }), true);
});

test('fmtDur, fmtBytes, fmtCount', () => {
  assert.equal(fmtDur(850), '850 ns');
  assert.equal(fmtDur(12000), '12 µs');
  assert.equal(fmtDur(1503221), '1.5 ms');
  assert.equal(fmtDur(2003912811), '2.00 s');
  assert.equal(fmtDur(125e9), '2m05s');
  assert.equal(fmtBytes(78), '78 B');
  assert.equal(fmtBytes(65664), '64.1 KiB');
  assert.equal(fmtBytes(16 * 1048576), '16.0 MiB');
  assert.equal(fmtCount(999), '999');
  assert.equal(fmtCount(12345), '12.3k');
  assert.equal(fmtCount(4.5e6), '4.5M');
});

test('visibleBytes marks CRLF and control bytes', () => {
  assert.equal(visibleText('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'GET / HTTP/1.1\\r\\n\nHost: x\\r\\n\n\\r\\n\n');
  assert.deepEqual(visibleBytes('a\r\nb'), [{ text: 'a', mark: false }, { text: '\\r\\n', mark: true }, { text: '\nb', mark: false }]);
  assert.equal(visibleText('a\x00b\x7f'), 'a\\x00b\\x7f');
  assert.equal(visibleText('<img src=x onerror=alert(1)>'), '<img src=x onerror=alert(1)>');
  assert.deepEqual(visibleBytes(undefined), []);
});

test('shorten', () => {
  assert.equal(shorten('abcdef', 4), 'abc…');
  assert.equal(shorten('abc', 4), 'abc');
});
