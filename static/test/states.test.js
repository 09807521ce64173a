import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EDGES, NODES, STATES, VIEW, BOX, edgeFor, nodeFor, normState, pathFor, stateLabel } from '../states.js';

test('normState maps the kernel spellings to RFC 9293 states', () => {
  const cases = {
    ESTABLISHED: 'ESTABLISHED', SYN_RECV: 'SYN_RECEIVED', NEW_SYN_RECV: 'SYN_RECEIVED', FIN_WAIT1: 'FIN_WAIT_1',
    FIN_WAIT2: 'FIN_WAIT_2', TIME_WAIT: 'TIME_WAIT', CLOSE: 'CLOSED', CLOSE_WAIT: 'CLOSE_WAIT', LAST_ACK: 'LAST_ACK',
    LISTEN: 'LISTEN', CLOSING: 'CLOSING', SYN_SENT: 'SYN_SENT', CLOSED: 'CLOSED', 'fin-wait-1': 'FIN_WAIT_1',
    'SYN-RECEIVED': 'SYN_RECEIVED', '': '', nonsense: '', undefined: '',
  };
  for (const [k, v] of Object.entries(cases)) assert.equal(normState(k === 'undefined' ? undefined : k), v, k);
});

test('every state has a box, inside the view, not overlapping', () => {
  for (const s of STATES) assert.ok(NODES[s], s);
  const boxes = Object.entries(NODES);
  for (const [id, p] of boxes) {
    assert.ok(p.x - BOX.w / 2 >= 0 && p.x + BOX.w / 2 <= VIEW.w, `${id} x`);
    assert.ok(p.y - BOX.h / 2 >= 0 && p.y + BOX.h / 2 <= VIEW.h, `${id} y`);
  }
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, p] = boxes[i];
      const [b, q] = boxes[j];
      const apart = Math.abs(p.x - q.x) >= BOX.w + 10 || Math.abs(p.y - q.y) >= BOX.h + 10;
      assert.ok(apart, `${a} and ${b} overlap`);
    }
  }
  for (const e of EDGES) assert.ok(NODES[e.from] && NODES[e.to], `${e.from}>${e.to}`);
});

test('CLOSED is drawn at the start or the end', () => {
  assert.equal(nodeFor('CLOSED', ''), 'CLOSED');
  assert.equal(nodeFor('CLOSE', 'LAST_ACK'), 'CLOSED_END');
  assert.equal(nodeFor('CLOSED', 'TIME_WAIT'), 'CLOSED_END');
  assert.equal(nodeFor('CLOSED', 'LISTEN'), 'CLOSED');
  assert.equal(nodeFor('ESTABLISHED', ''), 'ESTABLISHED');
  assert.equal(stateLabel('FIN_WAIT_1'), 'FIN-WAIT-1');
  assert.equal(stateLabel('CLOSED_END'), 'CLOSED');
});

test('edges of the figure, and the ways through skipped states', () => {
  assert.equal(edgeFor('ESTABLISHED', 'CLOSE_WAIT').label, 'rcv FIN / snd ACK');
  assert.equal(edgeFor('LAST_ACK', 'CLOSE').label, 'rcv ACK of FIN');
  assert.equal(edgeFor('ESTABLISHED', 'TIME_WAIT'), null);
  assert.deepEqual(pathFor('FIN_WAIT1', 'TIME_WAIT').map((e) => e.to), ['FIN_WAIT_2', 'TIME_WAIT']);
  assert.deepEqual(pathFor('CLOSE_WAIT', 'CLOSED').map((e) => e.to), ['LAST_ACK', 'CLOSED_END']);
  assert.deepEqual(pathFor('ESTABLISHED', 'CLOSE_WAIT').map((e) => e.to), ['CLOSE_WAIT']);
  assert.equal(pathFor('TIME_WAIT', 'ESTABLISHED'), null);
  assert.equal(pathFor('ESTABLISHED', 'ESTABLISHED'), null);
});
