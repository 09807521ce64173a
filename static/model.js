// model.js — the page's copy of the server's state: fd table, connections,
// TCP states, listener queue, counters. Rebuilt from /api/v1/snapshot on
// every (re)connect, then kept current by applying events in the order they
// are played. Pure, no DOM.

import { normState } from './states.js';

/** FADE_NS is how long a closed fd or connection stays visible, fading. */
export const FADE_NS = 8e9;

const MAX_CLOSED_CONNS = 200; // bound on remembered closed connections
const MAX_SOCKETS = 500; // bound on anonymous kernel sockets (sock_diag)
const MAX_STATE_HISTORY = 32;

/** Model holds the state the panels draw. */
export class Model {
  constructor() {
    this.reset();
  }

  /** reset forgets everything (before a snapshot, or for an offline replay). */
  reset() {
    /** @type {Map<number, object>} fd number → row of the fd table */
    this.fds = new Map();
    /** @type {Map<number, object>} connection id → connection */
    this.conns = new Map();
    /** @type {Map<string, object>} kernel sockets with no connection id (sock_diag) */
    this.sockets = new Map();
    this.listener = { fd: -1, local: '', queue: 0, backlog: 0, peak: 0 };
    this.epollFD = -1;
    this.eventFD = -1;
    this.counters = { app: 0, http: 0, tcp: 0, fd: 0, poller: 0, syscall: 0 };
    this.engine = '';
    this.replay = false;
    this.seq = 0; // highest seq applied
    this.t = 0; // engine time of the latest applied event
    this.version = 0; // bumped on every change; views redraw when it moves
    this.control = { mode: 'live', pace: 0, pending: [] };
    for (const [fd, name] of [[0, 'stdin'], [1, 'stdout'], [2, 'stderr']]) {
      this.fds.set(fd, { fd, kind: 'std', name });
    }
  }

  /** loadSnapshot replaces the state with a snapshot from GET /api/v1/snapshot. */
  loadSnapshot(s) {
    this.reset();
    this.seq = s.seq ?? 0;
    this.t = s.t ?? 0;
    this.engine = s.engine ?? '';
    this.replay = !!s.replay;
    if (s.listener) {
      this.listener = {
        fd: s.listener.fd ?? -1, local: s.listener.local ?? '',
        queue: s.listener.queue ?? 0, backlog: s.listener.backlog ?? 0, peak: s.listener.queue ?? 0,
      };
    }
    if (Array.isArray(s.fds)) {
      this.fds.clear();
      for (const f of s.fds) {
        const row = { ...f };
        if (row.state) row.state = normState(row.state) || row.state;
        this.fds.set(f.fd, row);
        if (f.kind === 'epoll') this.epollFD = f.fd;
        if (f.kind === 'eventfd') this.eventFD = f.fd;
      }
    }
    for (const c of s.conns ?? []) {
      this.conns.set(c.id, {
        id: c.id, fd: c.fd ?? -1, local: c.local ?? '', remote: c.remote ?? '',
        state: normState(c.state) || (c.closed ? 'CLOSED' : ''), source: c.source ?? lastSource(c.states),
        phase: c.phase ?? '', opened: c.opened ?? 0, closed: c.closed ?? 0,
        requests: c.requests ?? 0, bytesIn: c.bytesIn ?? 0, bytesOut: c.bytesOut ?? 0,
        states: (c.states ?? []).map((x) => ({ ...x, to: normState(x.to) || x.to, from: normState(x.from) || x.from })),
      });
    }
    for (const k of s.kernel ?? []) {
      const key = k.remote || k.local;
      if (!key) continue;
      this.sockets.set(key, {
        key, remote: k.remote ?? '', state: normState(k.state) || k.state, source: k.source ?? '', t: k.t ?? 0,
        states: (k.states ?? []).map((x) => ({ ...x, to: normState(x.to) || x.to, from: normState(x.from) || x.from })),
      });
    }
    Object.assign(this.counters, s.counters ?? {});
    if (s.control) this.control = normControl(s.control);
    this.version++;
  }

  /** apply folds one event into the state. Events must come in seq order. */
  apply(ev) {
    if (ev.seq && ev.seq > this.seq) this.seq = ev.seq;
    if (ev.t && ev.t > this.t) this.t = ev.t;
    if (ev.layer in this.counters) this.counters[ev.layer]++;
    this.version++;
    switch (ev.layer) {
      case 'syscall': return this.applySyscall(ev);
      case 'tcp': return this.applyTCP(ev);
      case 'http': return this.applyHTTP(ev);
      case 'app': return this.applyApp(ev);
      case 'fd': return this.applyFD(ev);
    }
  }

  /** addSummary counts events the server summarized instead of sending. */
  addSummary(summary) {
    for (const [layer, n] of Object.entries(summary?.byLayer ?? {})) {
      if (layer in this.counters) this.counters[layer] += n;
    }
    this.version++;
  }

  /** setControl records the step gate's state (GET/POST /control, control messages). */
  setControl(c) {
    this.control = normControl(c);
    this.version++;
  }

  applySyscall(ev) {
    const ok = (ev.ret ?? 0) >= 0 && !ev.errno;
    switch (ev.op) {
      case 'socket':
        if (ok) this.openFD(ev.ret, { kind: 'listener', opened: ev.t });
        break;
      case 'epoll_create1':
        if (ok) { this.epollFD = ev.ret; this.openFD(ev.ret, { kind: 'epoll', opened: ev.t }); }
        break;
      case 'eventfd2':
        if (ok) { this.eventFD = ev.ret; this.openFD(ev.ret, { kind: 'eventfd', opened: ev.t }); }
        break;
      case 'accept4':
        // The tcp accept event that follows names the connection; the fd
        // exists from here on, so the table shows it at once.
        if (ok && ev.ret >= 0) {
          this.openFD(ev.ret, { kind: 'conn', remote: ev.remote ?? '', local: this.listener.local, opened: ev.t });
        }
        break;
      case 'read':
        if (ok && ev.ret > 0) this.count(ev, 'bytesIn', ev.ret);
        break;
      case 'write':
      case 'writev':
        if (ok && ev.ret > 0) this.count(ev, 'bytesOut', ev.ret);
        break;
      case 'close':
        if (ok) this.closeFD(ev.fd, ev.t);
        break;
    }
  }

  applyTCP(ev) {
    switch (ev.op) {
      case 'listen':
        this.listener.fd = ev.fd;
        this.listener.local = ev.local ?? this.listener.local;
        this.listener.backlog = ev.max ?? this.listener.backlog;
        this.openFD(ev.fd, { kind: 'listener', local: ev.local ?? '', state: 'LISTEN', source: 'engine', opened: ev.t });
        break;
      case 'queue':
        this.listener.queue = ev.n ?? 0;
        if (ev.max) this.listener.backlog = ev.max;
        this.listener.peak = Math.max(this.listener.peak, this.listener.queue);
        break;
      case 'accept': {
        const c = this.conn(ev.conn);
        c.fd = ev.fd;
        c.local = ev.local ?? c.local;
        c.remote = ev.remote ?? c.remote;
        c.opened = c.opened || ev.t;
        c.phase = 'accepted';
        this.openFD(ev.fd, { kind: 'conn', conn: ev.conn, local: c.local, remote: c.remote, opened: ev.t, state: c.state, source: c.source });
        break;
      }
      case 'state': {
        const to = normState(ev.to) || ev.to;
        const from = normState(ev.from) || ev.from || '';
        if (ev.conn) {
          const c = this.conn(ev.conn);
          c.state = to;
          c.source = ev.source ?? '';
          c.states.push({ t: ev.t, from, to, source: ev.source ?? '' });
          if (c.states.length > MAX_STATE_HISTORY) c.states.shift();
          const row = this.fds.get(c.fd);
          if (row && row.conn === ev.conn && !row.closedAt) { row.state = to; row.source = ev.source ?? ''; }
        } else {
          // A kernel socket with no connection id yet (in the accept queue,
          // or one the engine never accepted): keyed by its peer address.
          const key = ev.remote || ev.local || `fd${ev.fd}`;
          const s = this.sockets.get(key) ?? { key, remote: ev.remote ?? '', states: [] };
          s.state = to; s.source = ev.source ?? ''; s.t = ev.t;
          s.states.push({ t: ev.t, from, to, source: ev.source ?? '' });
          if (s.states.length > MAX_STATE_HISTORY) s.states.shift();
          this.sockets.set(key, s);
          if (this.sockets.size > MAX_SOCKETS) this.sockets.delete(this.sockets.keys().next().value);
        }
        break;
      }
      case 'close': {
        const c = this.conn(ev.conn);
        c.closed = ev.t || 1;
        c.phase = 'closed';
        this.pruneClosed();
        break;
      }
    }
  }

  applyHTTP(ev) {
    if (!ev.conn) return;
    const c = this.conn(ev.conn);
    switch (ev.op) {
      case 'request': c.requests++; c.phase = 'reading'; this.rowOf(ev, (r) => { r.requests = (r.requests ?? 0) + 1; }); break;
      case 'response': c.phase = 'writing'; break;
      case 'idle': c.phase = 'idle'; break;
      case 'close': c.phase = 'closing'; c.closeMsg = ev.msg ?? ''; break;
      case 'error': c.phase = 'closing'; c.closeMsg = ev.msg ?? ''; break;
    }
  }

  applyApp(ev) {
    if (!ev.conn) return;
    if (ev.op === 'handler_start') this.conn(ev.conn).phase = 'handler';
  }

  applyFD(ev) {
    if (!ev.conn) return;
    if (ev.op === 'park') this.conn(ev.conn).parked = ev.mode || 'read';
    if (ev.op === 'wake' || ev.op === 'timeout') this.conn(ev.conn).parked = '';
  }

  /** conn returns the connection with id, creating it on first sight. */
  conn(id) {
    let c = this.conns.get(id);
    if (!c) {
      c = { id, fd: -1, local: '', remote: '', state: '', source: '', phase: '', opened: 0, closed: 0, requests: 0, bytesIn: 0, bytesOut: 0, states: [] };
      this.conns.set(id, c);
    }
    return c;
  }

  /**
   * openFD puts a new fd in the table. When the number was used before by a
   * connection, the new row remembers which: fd numbers are reused (the
   * kernel hands out the lowest free one, seed 003), connection ids are not.
   */
  openFD(fd, row) {
    if (fd < 0) return;
    const old = this.fds.get(fd);
    const next = { fd, kind: row.kind, ...row };
    if (old && old.kind === 'conn') {
      if (row.kind === 'conn' && old.conn && row.conn && old.conn === row.conn && !old.closedAt) {
        // accept4 opened the row, tcp accept names it: the same fd, not a reuse.
        Object.assign(old, row);
        return;
      }
      if (row.kind === 'conn' && !old.conn && !old.closedAt) {
        Object.assign(old, row);
        return;
      }
      if (old.conn) next.reusedFrom = old.conn;
    }
    this.fds.set(fd, next);
  }

  closeFD(fd, t) {
    const row = this.fds.get(fd);
    if (row && !row.closedAt) row.closedAt = t || 1;
  }

  count(ev, field, n) {
    if (ev.conn) this.conn(ev.conn)[field] += n;
    this.rowOf(ev, (r) => { r[field] = (r[field] ?? 0) + n; });
  }

  rowOf(ev, f) {
    const row = this.fds.get(ev.fd);
    if (row && (!ev.conn || row.conn === ev.conn || !row.conn) && !row.closedAt) f(row);
  }

  pruneClosed() {
    let closed = 0;
    for (const c of this.conns.values()) if (c.closed) closed++;
    for (const [id, c] of this.conns) {
      if (closed <= MAX_CLOSED_CONNS) break;
      if (c.closed) { this.conns.delete(id); closed--; }
    }
  }

  /**
   * expire drops closed fd rows, connections and kernel sockets whose fade
   * is over, at engine time now. Returns whether anything went.
   */
  expire(now) {
    let gone = false;
    for (const [fd, row] of this.fds) {
      if (row.closedAt && now - row.closedAt > FADE_NS) { this.fds.delete(fd); gone = true; }
    }
    for (const [id, c] of this.conns) {
      // Keep a closed connection while the kernel still reports a state for
      // it (TIME_WAIT lasts 60 s on Linux), then let it fade.
      const done = !c.state || c.state === 'CLOSED' || !c.states.length;
      const last = c.states.length ? c.states[c.states.length - 1].t : c.closed;
      if (c.closed && done && now - Math.max(c.closed, last) > FADE_NS) { this.conns.delete(id); gone = true; }
    }
    for (const [k, s] of this.sockets) {
      if (s.state === 'CLOSED' && now - s.t > FADE_NS) { this.sockets.delete(k); gone = true; }
    }
    if (gone) this.version++;
    return gone;
  }

  /** stateCounts counts sockets per canonical TCP state: connections and kernel-only ones. */
  stateCounts() {
    const m = new Map();
    const add = (s, who) => {
      if (!s) return;
      const e = m.get(s) ?? [];
      e.push(who);
      m.set(s, e);
    };
    if (this.listener.fd >= 0) add('LISTEN', { listener: true, fd: this.listener.fd });
    for (const c of this.conns.values()) add(c.state, { conn: c.id, source: c.source, closed: !!c.closed });
    for (const s of this.sockets.values()) add(s.state, { socket: s.key, source: s.source });
    return m;
  }

  /** fdRows lists the fd table in fd order. */
  fdRows() {
    return [...this.fds.values()].sort((a, b) => a.fd - b.fd);
  }

  /** liveConns lists connections not yet closed, oldest first. */
  liveConns() {
    return [...this.conns.values()].filter((c) => !c.closed).sort((a, b) => a.id - b.id);
  }
}

function lastSource(states) {
  return states?.length ? states[states.length - 1].source ?? '' : '';
}

function normControl(c) {
  return { mode: c?.mode ?? 'live', pace: c?.pace ?? 0, pending: Array.isArray(c?.pending) ? c.pending : [] };
}
