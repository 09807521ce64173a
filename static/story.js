// story.js — what the layer diagram tells about one connection: its recent
// steps (the trail its token leaves across the bands) and its wait chains,
// the cause and effect of a non-blocking call that could not finish:
//
//   read(7) = -1 EAGAIN → park (read) → epoll_wait woke fd 7 IN → wake → read(7) = 78
//
// That chain is what Go's own tracer leaves people confused about, so it
// gets its own tracking here. Pure, no DOM.

import { callText, fmtDur } from './format.js';

/** TRAIL_LEN is how many recent steps a connection's trail keeps. */
export const TRAIL_LEN = 12;

const MAX_KEYS = 256; // bound on tracked connections

/** Story tracks trails and wait chains per connection (key 0: the accept loop). */
export class Story {
  constructor() {
    this.reset();
  }

  reset() {
    /** @type {Map<number, object[]>} conn → recent events */
    this.trails = new Map();
    /** @type {Map<number, object>} conn → the wait chain in progress or last finished */
    this.chains = new Map();
    this.lastChain = null; // the most recently changed chain, any connection
    this.seen = new Map(); // conn → Set of "layer:op" drawn (for tests and the follow list)
    this.listenerFD = -1;
  }

  /** add records one played event; returns the chain it touched, if any. */
  add(ev) {
    if (ev.layer === 'tcp' && ev.op === 'listen') this.listenerFD = ev.fd;
    // getsockopt(TCP_INFO) only observes: it is not a step of the request.
    if (ev.layer === 'syscall' && ev.op === 'getsockopt') return null;
    const key = this.keyOf(ev);
    if (ev.layer === 'tcp' && ev.op === 'accept' && ev.conn) {
      // The connection's story starts in the accept loop: the wake of the
      // listener and the accept4 that returned this fd belong to it.
      const lt = this.trails.get(0) ?? [];
      const i = lt.findLastIndex((e) => e.layer === 'syscall' && e.op === 'accept4' && e.ret === ev.fd);
      if (i >= 0) {
        const pre = lt.slice(Math.max(0, i - 2), i + 1);
        for (const e of pre) this.push(ev.conn, e);
      }
    }
    this.push(key, ev);
    return this.chain(key, ev);
  }

  /** keyOf is the trail an event belongs to: its connection, or 0. */
  keyOf(ev) {
    return ev.conn || 0;
  }

  push(key, ev) {
    let t = this.trails.get(key);
    if (!t) {
      t = [];
      this.trails.set(key, t);
      if (this.trails.size > MAX_KEYS) {
        const first = this.trails.keys().next().value;
        this.trails.delete(first);
        this.chains.delete(first);
        this.seen.delete(first);
      }
    }
    t.push(ev);
    if (t.length > TRAIL_LEN) t.shift();
    let s = this.seen.get(key);
    if (!s) { s = new Set(); this.seen.set(key, s); }
    s.add(`${ev.layer}:${ev.op}`);
    if (ev.layer === 'syscall' && ev.errno) s.add(`${ev.layer}:${ev.op}:${ev.errno}`);
  }

  /**
   * chain follows the EAGAIN → park → ready → wake → retry sequence of one
   * fd. A chain starts at the EAGAIN; steps that belong to it are appended;
   * the retried call (or a timeout) finishes it.
   */
  chain(key, ev) {
    const c = this.chains.get(key);
    const open = c && !c.done && c.fd === ev.fd;
    if (ev.layer === 'syscall' && ev.errno === 'EAGAIN' && ev.op !== 'epoll_wait') {
      // A new wait begins. An EAGAIN that was itself the retry ends the old chain first.
      const nc = { key, fd: ev.fd, op: ev.op, mode: ev.op === 'write' || ev.op === 'writev' ? 'write' : 'read', steps: [step(ev, 'eagain')], done: false };
      this.chains.set(key, nc);
      this.lastChain = nc;
      return nc;
    }
    if (!open) return null;
    if (ev.layer === 'fd' && ev.op === 'park') {
      c.steps.push(step(ev, 'park'));
    } else if (ev.layer === 'poller' && ev.op === 'ready') {
      // Edge-triggered epoll may report the fd again (IN|OUT, then
      // IN|OUT|RDHUP) before the goroutine runs: one link, latest flags.
      const last = c.steps[c.steps.length - 1];
      if (last.kind === 'ready') {
        last.ev = ev;
        last.text = stepText(ev, 'ready');
        last.times = (last.times ?? 1) + 1;
      } else {
        c.steps.push(step(ev, 'ready'));
      }
    } else if (ev.layer === 'fd' && ev.op === 'wake') {
      c.steps.push(step(ev, 'wake'));
    } else if (ev.layer === 'fd' && ev.op === 'timeout') {
      c.steps.push(step(ev, 'timeout'));
      c.done = true;
    } else if (ev.layer === 'syscall' && ev.op === c.op) {
      c.steps.push(step(ev, 'retry'));
      c.done = true;
    } else {
      return null;
    }
    this.lastChain = c;
    return c;
  }

  /** trail returns a connection's recent steps, oldest first. */
  trail(key) {
    return this.trails.get(key) ?? [];
  }

  /** saw reports whether the diagram drew layer:op for a connection. */
  saw(key, layerOp) {
    return this.seen.get(key)?.has(layerOp) ?? false;
  }
}

function step(ev, kind) {
  return { kind, layer: ev.layer, text: stepText(ev, kind), ev };
}

/** stepText is how one link of a wait chain reads. */
export function stepText(ev, kind) {
  switch (kind) {
    case 'eagain':
    case 'retry':
      return callText(ev);
    case 'park':
      return `park (${ev.mode || 'read'})`;
    case 'ready':
      return `epoll_wait woke fd ${ev.fd}${ev.flags ? ' ' + ev.flags : ''}`;
    case 'wake':
      return `wake${ev.dur ? ' after ' + fmtDur(ev.dur) : ''}`;
    case 'timeout':
      return `timeout${ev.msg ? ': ' + ev.msg : ''}`;
  }
  return ev.op;
}
