// bands.js — the six bands of the layer diagram (seed 000's table), each
// with our file and Go's equivalent, and the short texts a band shows for
// an event. Pure, no DOM.

import { callText, fmtBytes, fmtDur, shorten } from './format.js';

/** BANDS are the layers top to bottom, as engine.Layers orders them. */
export const BANDS = [
  { id: 'app', ours: 'main.go (demo app)', go: 'http.Handler' },
  { id: 'http', ours: 'engine/http_*.go', go: 'net/http/server.go' },
  { id: 'tcp', ours: 'engine/{conn,listener}.go', go: 'net/tcpsock.go' },
  { id: 'fd', ours: 'engine/fd.go', go: 'internal/poll/fd_unix.go' },
  { id: 'poller', ours: 'engine/poller_epoll.go', go: 'runtime/netpoll_epoll.go' },
  { id: 'syscall', ours: 'engine/sys.go', go: 'syscall, x/sys/unix' },
];

/** bandIndex is a layer's row, top (app) = 0; unknown layers go to the bottom. */
export function bandIndex(layer) {
  const i = BANDS.findIndex((b) => b.id === layer);
  return i < 0 ? BANDS.length - 1 : i;
}

/** LATEST_MAX is how many characters a band's latest-call line holds. */
export const LATEST_MAX = 24;

/**
 * bandText is what a band says about its latest event: a main line (the
 * call, `read(7) = -1 EAGAIN`) and a smaller line (whose, and detail).
 */
export function bandText(ev) {
  const who = ev.conn ? `conn ${ev.conn}` : ev.fd >= 0 ? `fd ${ev.fd}` : '';
  let main = '';
  let sub = who;
  switch (ev.layer) {
    case 'syscall':
      main = callText(ev);
      if (ev.bytes && ev.op !== 'accept4') sub = join(who, fmtBytes(ev.bytes));
      else if (ev.op === 'accept4' && ev.remote) sub = `← ${ev.remote}`;
      else if (ev.op === 'epoll_wait' && ev.dur) sub = `slept ${fmtDur(ev.dur)}`;
      else if (ev.ret === 0 && ev.op === 'read' && !ev.errno) sub = join(who, 'EOF');
      break;
    case 'poller':
      if (ev.op === 'wait') { main = `epoll_wait(${ev.fd}) …`; sub = 'blocked, 0% CPU'; }
      else if (ev.op === 'ready') { main = `ready fd ${ev.fd} ${ev.flags ?? ''}`.trim(); sub = ev.conn ? `→ wakes conn ${ev.conn}${ev.mode ? ' (' + ev.mode + ')' : ''}` : '→ wakes accept loop'; }
      else if (ev.op === 'stale') { main = `stale fd ${ev.fd}`; sub = 'ignored: fd was closed'; }
      break;
    case 'fd':
      if (ev.op === 'park') { main = `park (${ev.mode || 'read'})`; sub = join(who, `fd ${ev.fd} asleep`); }
      else if (ev.op === 'wake') { main = `wake (${ev.mode || 'read'})`; sub = join(who, ev.dur ? `slept ${fmtDur(ev.dur)}` : ''); }
      else if (ev.op === 'timeout') { main = `timeout (${ev.mode || 'read'})`; sub = join(who, ev.msg ?? ''); }
      break;
    case 'tcp':
      if (ev.op === 'accept') { main = `accept → conn ${ev.conn}`; sub = `fd ${ev.fd} ← ${ev.remote ?? ''}`; }
      else if (ev.op === 'state') { main = `${ev.to}`; sub = join(who, `from ${ev.from || '—'} · ${ev.source ?? ''}`); }
      else if (ev.op === 'queue') { main = `queue ${ev.n ?? 0}/${ev.max ?? 0}`; sub = 'waiting for accept()'; }
      else if (ev.op === 'listen') { main = `listen ${ev.local ?? ''}`; sub = `fd ${ev.fd} · backlog ${ev.max ?? ''}`; }
      else if (ev.op === 'close') { main = `close conn ${ev.conn}`; sub = join(`fd ${ev.fd}`, ev.bytes ? fmtBytes(ev.bytes) : ''); }
      else if (ev.op === 'backoff') { main = `backoff ${ev.errno ?? ''}`; sub = ev.dur ? `sleep ${fmtDur(ev.dur)}` : ''; }
      break;
    case 'http':
      if (ev.op === 'request') { main = `${ev.method ?? ''} ${ev.target ?? ''}`; sub = join(who, ev.proto ?? ''); }
      else if (ev.op === 'response') { main = `${ev.proto || 'HTTP/1.1'} ${ev.status ?? ''}`; sub = join(who, ev.bytes ? fmtBytes(ev.bytes) : ''); }
      else if (ev.op === 'idle') { main = 'idle (keep-alive)'; }
      else if (ev.op === 'close') { main = 'close'; sub = join(who, ev.msg ?? ''); }
      else if (ev.op === 'error') { main = `error ${ev.status ?? ''}`; sub = join(who, ev.msg ?? ''); }
      else if (ev.op === 'drain') { main = `drain ${fmtBytes(ev.bytes ?? 0)}`; sub = join(who, ev.msg ?? ''); }
      else if (ev.op === 'continue') { main = '100 Continue'; }
      break;
    case 'app':
      if (ev.op === 'handler_start') { main = `ServeHTTP ${ev.target ?? ''}`; sub = join(who, ev.method ?? ''); }
      else if (ev.op === 'handler_end') { main = `return ${ev.status ?? ''}`; sub = join(who, ev.dur ? fmtDur(ev.dur) : ''); }
      else if (ev.op === 'panic') { main = 'panic'; sub = join(who, ev.msg ?? ''); }
      break;
  }
  if (!main) main = ev.op;
  return { main: shorten(main, LATEST_MAX), sub: shorten(sub, 34) };
}

/** nodeLabel is the few characters written beside a step of the trail. */
export function nodeLabel(ev) {
  switch (ev.layer) {
    case 'syscall':
      if (ev.errno) return `${ev.op} ${ev.errno}`;
      if (ev.op === 'read' && ev.ret === 0) return 'read EOF';
      if (ev.op === 'read' || ev.op === 'write' || ev.op === 'writev') return `${ev.op} ${ev.ret}`;
      if (ev.op === 'accept4') return `accept4 → ${ev.ret}`;
      return ev.op;
    case 'poller':
      return ev.op === 'ready' ? `ready ${ev.flags ?? ''}`.trim() : ev.op;
    case 'tcp':
      return ev.op === 'state' ? shorten(ev.to ?? '', 12) : ev.op;
    case 'http':
      return ev.op === 'request' ? shorten(ev.method ?? 'request', 8) : ev.op === 'response' ? String(ev.status ?? 'response') : ev.op;
    case 'app':
      return ev.op === 'handler_start' ? 'ServeHTTP' : ev.op === 'handler_end' ? 'return' : ev.op;
  }
  return ev.op;
}

function join(a, b) {
  return a && b ? `${a} · ${b}` : a || b || '';
}
