import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFilter, matches, isEmpty, follows } from '../filter.js';
import { parseTrace } from '../trace.js';
import { timelineRows, LANES } from '../timeline.js';
import { actionFor, pendingText, KEYS } from '../controls.js';
import { nextBackoff, splitBySeq } from '../stream.js';
import { bytesFor } from '../details.js';
import { mergeStd, pairText } from '../fdtable.js';
import { whyKey, why } from '../why.js';
import { bandText, bandIndex, BANDS, LATEST_MAX } from '../bands.js';
import { pick } from '../scenarios.js';

test('log filters by conn, fd, layer and text', () => {
  const ev = { layer: 'syscall', op: 'read', fd: 7, conn: 1 };
  assert.ok(matches(ev, parseFilter({})));
  assert.ok(isEmpty(parseFilter({})));
  assert.ok(matches(ev, parseFilter({ conn: '1' })));
  assert.ok(matches(ev, parseFilter({ conn: 'c1' })));
  assert.ok(!matches(ev, parseFilter({ conn: '2' })));
  assert.ok(matches(ev, parseFilter({ fd: ' 7 ' })));
  assert.ok(!matches(ev, parseFilter({ fd: '8' })));
  assert.ok(!matches(ev, parseFilter({ fd: 'x' })), 'a typo matches nothing');
  assert.ok(matches(ev, parseFilter({ layers: ['syscall'] })));
  assert.ok(!matches(ev, parseFilter({ layers: ['http'] })));
  assert.ok(matches(ev, parseFilter({ text: 'EAGAIN' }), 'read(7) = -1 EAGAIN'));
  assert.ok(!matches(ev, parseFilter({ text: 'write' }), 'read(7) = 78'));
  assert.ok(follows(ev, 0) && follows(ev, 1) && !follows(ev, 2));
});

test('a trace file: header, events, gaps, bad lines', () => {
  const text = [
    '{"type":"header","format":"sockscope-trace","version":1,"engine":"127.0.0.1:8080","start":"2026-01-01T00:00:00Z"}',
    '{"seq":2,"t":20,"layer":"syscall","op":"read","fd":7,"conn":1,"ret":78}',
    '{"seq":1,"t":10,"layer":"tcp","op":"accept","fd":7,"conn":1,"ret":0}',
    '{"type":"gap","dropped":5}',
    'not json',
    '[1,2]',
    '',
    '{"seq":8,"t":80,"layer":"http","op":"request","fd":7,"conn":1,"ret":0,"target":"/<script>"}',
  ].join('\n');
  const tr = parseTrace(text);
  assert.equal(tr.header.engine, '127.0.0.1:8080');
  assert.deepEqual(tr.events.map((e) => e.seq), [1, 2, 8]);
  assert.equal(tr.gaps, 5);
  assert.equal(tr.bad, 2);
  assert.equal(tr.events[2].target, '/<script>');
  assert.deepEqual(parseTrace('').events, []);
});

test('timeline lanes: arrows and notes for each kind of event', () => {
  assert.deepEqual(LANES, ['client', 'kernel', 'poller', 'conn', 'handler']);
  const rows = (o) => timelineRows({ fd: 7, conn: 1, ret: 0, ...o });
  assert.deepEqual(rows({ layer: 'syscall', op: 'read', ret: 78 }).map((r) => [r.from, r.to, r.label]), [[0, 1, '78 B'], [1, 3, 'read(7) = 78']]);
  assert.equal(rows({ layer: 'syscall', op: 'read', ret: -1, errno: 'EAGAIN' })[0].cls, 'eagain');
  assert.deepEqual(rows({ layer: 'syscall', op: 'write', ret: 128 }).map((r) => [r.from, r.to]), [[3, 1], [1, 0]]);
  assert.deepEqual(rows({ layer: 'syscall', op: 'epoll_wait', fd: 3, ret: 1 }).map((r) => [r.from, r.to]), [[1, 2]]);
  assert.deepEqual(rows({ layer: 'poller', op: 'ready', flags: 'IN' }).map((r) => [r.from, r.to]), [[2, 3]]);
  assert.deepEqual(rows({ layer: 'app', op: 'handler_start', method: 'GET', target: '/' }).map((r) => [r.from, r.to]), [[3, 4]]);
  assert.deepEqual(rows({ layer: 'app', op: 'handler_end', status: 200 }).map((r) => [r.from, r.to]), [[4, 3]]);
  assert.equal(rows({ layer: 'fd', op: 'park', mode: 'read' })[0].lane, 3);
  assert.equal(rows({ layer: 'tcp', op: 'state', from: 'ESTABLISHED', to: 'CLOSE_WAIT' })[0].lane, 1);
  assert.equal(rows({ layer: 'http', op: 'request', method: 'GET', target: '/<img onerror=x>' })[0].label, 'GET /<img onerror=x>');
  assert.deepEqual(rows({ layer: 'syscall', op: 'getsockopt' }), []);
  assert.deepEqual(rows({ layer: 'syscall', op: 'read', ret: -1, errno: 'ECONNRESET' }).map((r) => r.label), ['RST', 'read(7) = -1 ECONNRESET']);
});

test('keyboard shortcuts', () => {
  const k = (key, o = {}) => actionFor({ key, target: { tagName: 'BODY' }, ...o });
  assert.equal(k(' '), 'togglePause');
  assert.equal(k('s'), 'toggleStepMode');
  assert.equal(k('n'), 'step');
  assert.equal(k('?'), 'toggleHelp');
  assert.equal(k('+'), 'faster');
  assert.equal(k('-'), 'slower');
  assert.equal(k('Escape'), 'escape');
  assert.equal(k('s', { ctrlKey: true }), '');
  assert.equal(k('s', { target: { tagName: 'INPUT' } }), '', 'typing in a filter is not a shortcut');
  assert.equal(k('Escape', { target: { tagName: 'INPUT' } }), 'escape');
  assert.equal(k('Enter', { target: { tagName: 'BUTTON' } }), '', 'Enter on a button clicks it');
  for (const key of KEYS) assert.ok(key.help.startsWith('key.'));
});

test('the pending call at the step gate', () => {
  assert.equal(pendingText({ op: 'read', layer: 'syscall', fd: 7, conn: 1 }), 'read(7) · conn 1');
  assert.equal(pendingText({ op: 'accept4', layer: 'syscall', fd: 5, conn: 0 }), 'accept4(5)');
  assert.equal(pendingText(null), '');
});

test('reconnect backoff: 250 ms doubling to 5 s', () => {
  const seq = [];
  let ms = 0;
  for (let i = 0; i < 8; i++) { ms = nextBackoff(ms); seq.push(ms); }
  assert.deepEqual(seq, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
});

test('events a snapshot holds are told apart from new ones', () => {
  const { old, fresh } = splitBySeq([{ seq: 9 }, { seq: 10 }, { seq: 11 }], 10);
  assert.deepEqual(old.map((e) => e.seq), [9, 10]);
  assert.deepEqual(fresh.map((e) => e.seq), [11]);
});

test('details find the request bytes read and the response bytes written', () => {
  const hist = [
    { seq: 1, layer: 'syscall', op: 'read', conn: 1, ret: 40, data: 'GET /<script>x</script> HTTP/1.1\r\n\r\n' },
    { seq: 2, layer: 'http', op: 'request', conn: 1 },
    { seq: 3, layer: 'app', op: 'handler_start', conn: 1 },
    { seq: 4, layer: 'syscall', op: 'write', conn: 1, ret: 20, data: 'HTTP/1.1 200 OK\r\n' },
    { seq: 5, layer: 'syscall', op: 'read', conn: 2, ret: 3, data: 'other' },
  ];
  const b = bytesFor(hist[2], hist);
  assert.equal(b.request, hist[0].data);
  assert.equal(b.response, hist[3].data);
  assert.equal(bytesFor(hist[3], hist).response, hist[3].data);
  assert.equal(bytesFor(hist[0], hist).request, hist[0].data);
  assert.deepEqual(bytesFor({ seq: 9, layer: 'poller', op: 'wait', conn: 0 }, hist), { request: '', response: '', own: '' });
});

test('fd table helpers', () => {
  const rows = mergeStd([{ fd: 0, kind: 'std', name: 'stdin' }, { fd: 1, kind: 'std' }, { fd: 2, kind: 'std' }, { fd: 3, kind: 'epoll' }]);
  assert.deepEqual(rows.map((r) => r.label ?? String(r.fd)), ['0 1 2', '3']);
  assert.equal(pairText('127.0.0.1:8080', '127.0.0.1:51234'), ':8080 ⇄ :51234');
  assert.equal(pairText('[::1]:8080', '10.0.0.2:1'), '[::1]:8080 ⇄ 10.0.0.2:1');
  assert.equal(pairText('', ''), '? ⇄ ?');
});

test('why picks the precise line', () => {
  assert.equal(whyKey({ layer: 'syscall', op: 'read', ret: -1, errno: 'EAGAIN' }), 'syscall:read:EAGAIN');
  assert.equal(whyKey({ layer: 'syscall', op: 'read', ret: 0 }), 'syscall:read:EOF');
  assert.equal(whyKey({ layer: 'syscall', op: 'read', ret: -1, errno: 'ECONNRESET' }), 'syscall:read');
  assert.match(why({ layer: 'fd', op: 'park' }), /fd\.pd\.waitRead → runtime\.netpollblock/);
  assert.match(why({ layer: 'fd', op: 'park' }, 'ja'), /パーク|眠る/);
  assert.equal(why({ layer: 'x', op: 'y' }), '');
});

test('band texts fit their band', () => {
  assert.deepEqual(BANDS.map((b) => b.id), ['app', 'http', 'tcp', 'fd', 'poller', 'syscall']);
  assert.equal(bandIndex('syscall'), 5);
  assert.equal(bandIndex('nonsense'), 5);
  assert.equal(bandText({ layer: 'syscall', op: 'accept4', fd: 4, ret: 7, remote: '127.0.0.1:5' }).main, 'accept4(4) = 7');
  assert.equal(bandText({ layer: 'syscall', op: 'read', fd: 7, conn: 1, ret: -1, errno: 'EAGAIN' }).main, 'read(7) = -1 EAGAIN');
  assert.equal(bandText({ layer: 'poller', op: 'ready', fd: 7, conn: 1, flags: 'IN', mode: 'read' }).sub, '→ wakes conn 1 (read)');
  const long = bandText({ layer: 'http', op: 'request', method: 'GET', target: '/' + 'a'.repeat(200), conn: 1 });
  assert.ok(long.main.length <= LATEST_MAX);
  assert.ok(long.main.endsWith('…'));
});

test('scenario texts in either language', () => {
  assert.equal(pick({ en: 'a', ja: 'あ' }, 'ja'), 'あ');
  assert.equal(pick({ en: 'a' }, 'ja'), 'a');
  assert.equal(pick('plain', 'ja'), 'plain');
  assert.equal(pick(undefined, 'en'), '');
});
