// format.js — turning events into the short texts the page shows.
// Pure functions, no DOM: tested with `node --test static/test/`.

/** Syscalls whose first argument is not an fd, so the fd field is -1. */
const noFdCalls = new Set(['socket', 'epoll_create1', 'eventfd2']);

/**
 * callText is the one-line form of a syscall the bands show:
 * `accept4(5) = 7`, `read(7) = -1 EAGAIN`, `socket(AF_INET, …) = 5`.
 */
export function callText(ev) {
  let arg = '';
  if (ev.fd >= 0 && !noFdCalls.has(ev.op)) {
    arg = String(ev.fd);
  } else if (ev.args) {
    arg = shorten(ev.args.split(',')[0], 24) + (ev.args.includes(',') ? ', …' : '');
  }
  return `${ev.op}(${arg}) = ${retText(ev)}`;
}

/** retText is a syscall's result: `78`, `-1 EAGAIN`, `0`. */
export function retText(ev) {
  const ret = ev.ret ?? 0;
  return ev.errno ? `${ret} ${ev.errno}` : String(ret);
}

/**
 * straceLine is the strace-like form for the syscall log:
 * `read(7, 4096) = 78 <0.000012>`. Non-syscall events get `layer op …`.
 */
export function straceLine(ev) {
  if (ev.layer !== 'syscall') {
    const text = eventText(ev);
    return text.startsWith(ev.op) ? text : `${ev.op}: ${text}`;
  }
  const args = ev.args ?? (ev.fd >= 0 ? String(ev.fd) : '');
  let s = `${ev.op}(${args}) = ${retText(ev)}`;
  if (ev.dur) s += ` <${(ev.dur / 1e9).toFixed(6)}>`;
  return s;
}

/**
 * eventText is a short description of any event, for a band's "latest" line,
 * the timeline and the log. Syscalls use callText. Request data is only ever
 * returned as a string; callers put it in text nodes.
 */
export function eventText(ev) {
  switch (ev.layer) {
    case 'syscall':
      return callText(ev);
    case 'poller':
      switch (ev.op) {
        case 'wait': return `epoll_wait(${ev.fd}) blocking…`;
        case 'ready':
          return `fd ${ev.fd} ${ev.flags ?? ''}`.trim() +
            (ev.conn ? ` → conn ${ev.conn}${ev.mode ? ' ' + ev.mode : ''}` : ev.mode ? ` → ${ev.mode}` : '');
        case 'stale': return `stale fd ${ev.fd} ${ev.flags ?? ''} (ignored)`.trim();
      }
      break;
    case 'fd':
      switch (ev.op) {
        case 'park': return `park ${ev.mode ?? ''} fd ${ev.fd}`.replace('  ', ' ');
        case 'wake': return `wake ${ev.mode ?? ''} fd ${ev.fd}`.replace('  ', ' ') + (ev.dur ? ` after ${fmtDur(ev.dur)}` : '');
        case 'timeout': return `timeout ${ev.mode ?? ''} fd ${ev.fd}`.replace('  ', ' ') + (ev.msg ? `: ${ev.msg}` : '');
      }
      break;
    case 'tcp':
      switch (ev.op) {
        case 'listen': return `listen ${ev.local ?? ''} backlog ${ev.max ?? ''}`.trim();
        case 'accept': return `accept conn ${ev.conn} fd ${ev.fd}${ev.remote ? ' ← ' + ev.remote : ''}`;
        case 'state': return `${ev.from || '·'} → ${ev.to} (${ev.source ?? '?'})`;
        case 'queue': return `accept queue ${ev.n ?? 0}/${ev.max ?? 0}`;
        case 'close': return `close conn ${ev.conn}${ev.bytes ? ' · ' + fmtBytes(ev.bytes) : ''}`;
        case 'backoff': return `accept backoff ${ev.errno ?? ''} ${ev.dur ? fmtDur(ev.dur) : ''}`.trim();
      }
      break;
    case 'http':
      switch (ev.op) {
        case 'request': return `${ev.method ?? ''} ${ev.target ?? ''} ${ev.proto ?? ''}`.trim();
        case 'continue': return '100 Continue';
        case 'response': return `→ ${ev.status ?? ''}${ev.bytes ? ' · ' + fmtBytes(ev.bytes) : ''}`;
        case 'error': return `error ${ev.status ?? ''}${ev.msg ? ': ' + ev.msg : ''}`;
        case 'idle': return 'idle (keep-alive)';
        case 'drain': return `drain ${fmtBytes(ev.bytes ?? 0)}${ev.msg ? ' (' + ev.msg + ')' : ''}`;
        case 'close': return `close${ev.msg ? ': ' + ev.msg : ''}`;
      }
      break;
    case 'app':
      switch (ev.op) {
        case 'handler_start': return `ServeHTTP ${ev.method ?? ''} ${ev.target ?? ''}`.trim();
        case 'handler_end': return `return ${ev.status ?? ''}${ev.dur ? ' in ' + fmtDur(ev.dur) : ''}`;
        case 'panic': return `panic: ${ev.msg ?? ''}`;
      }
      break;
  }
  // An op this page does not know yet: still show it, plainly.
  const bits = [ev.op];
  if (ev.fd >= 0) bits.push(`fd ${ev.fd}`);
  if (ev.msg) bits.push(ev.msg);
  return bits.join(' ');
}

/** isError says whether an event is a failure worth colouring. */
export function isError(ev) {
  if (ev.layer === 'syscall') return (ev.ret ?? 0) < 0 && ev.errno !== 'EAGAIN';
  return ev.op === 'error' || ev.op === 'panic' || ev.op === 'timeout' || ev.op === 'backoff';
}

/** isWouldBlock says whether an event is the EAGAIN that starts a park. */
export function isWouldBlock(ev) {
  return ev.layer === 'syscall' && ev.errno === 'EAGAIN';
}

/** fmtDur formats nanoseconds: `850 ns`, `12 µs`, `1.5 ms`, `2.00 s`. */
export function fmtDur(ns) {
  ns = Number(ns) || 0;
  if (ns < 1e3) return `${Math.round(ns)} ns`;
  if (ns < 1e6) return `${trim(ns / 1e3)} µs`;
  if (ns < 1e9) return `${trim(ns / 1e6)} ms`;
  if (ns < 60e9) return `${(ns / 1e9).toFixed(2)} s`;
  const s = Math.floor(ns / 1e9);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** fmtAge formats an age in nanoseconds coarsely, for the fd table: `3.2s`. */
export function fmtAge(ns) {
  const s = Math.max(0, Number(ns) || 0) / 1e9;
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 120) return `${Math.round(s)}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h`;
}

/** fmtBytes formats a byte count: `78 B`, `64.1 KiB`, `16.0 MiB`. */
export function fmtBytes(n) {
  n = Number(n) || 0;
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1048576).toFixed(1)} MiB`;
  return `${(n / 1073741824).toFixed(1)} GiB`;
}

/** fmtTime formats an event's t (ns since start) as seconds: `12.345678`. */
export function fmtTime(t) {
  return ((Number(t) || 0) / 1e9).toFixed(6);
}

/** fmtCount shortens big counts: `999`, `12.3k`, `4.5M`. */
export function fmtCount(n) {
  n = Number(n) || 0;
  if (n < 1000) return String(Math.round(n));
  if (n < 1e6) return `${trim(n / 1e3)}k`;
  return `${trim(n / 1e6)}M`;
}

/**
 * visibleBytes splits request or response bytes into text and marks, the
 * way a reader of httputil.DumpRequest wants to see them: each CRLF (or
 * lone CR, LF) is a mark `\r\n` followed by a real line break, other
 * control bytes are marks like `\x00`. The caller draws marks dimmed; all
 * of it goes into text nodes, never markup.
 * @returns {{text: string, mark: boolean}[]}
 */
export function visibleBytes(s) {
  const out = [];
  const push = (text, mark) => {
    const last = out[out.length - 1];
    if (last && last.mark === mark) last.text += text;
    else out.push({ text, mark });
  };
  const str = String(s ?? '');
  for (let i = 0; i < str.length; i++) {
    const ch = str[i];
    const c = ch.charCodeAt(0);
    if (ch === '\r' && str[i + 1] === '\n') {
      push('\\r\\n', true);
      push('\n', false);
      i++;
    } else if (ch === '\n') {
      push('\\n', true);
      push('\n', false);
    } else if (ch === '\r') {
      push('\\r', true);
    } else if (ch === '\t') {
      push('\t', false);
    } else if (c < 0x20 || c === 0x7f) {
      push(`\\x${c.toString(16).padStart(2, '0')}`, true);
    } else {
      push(ch, false);
    }
  }
  return out;
}

/** visibleText is visibleBytes as one string (for titles and tests). */
export function visibleText(s) {
  return visibleBytes(s).map((x) => x.text).join('');
}

/** shorten cuts s to at most n characters, with an ellipsis. */
export function shorten(s, n) {
  s = String(s ?? '');
  return s.length <= n ? s : s.slice(0, Math.max(0, n - 1)) + '…';
}

function trim(x) {
  if (x >= 100) return String(Math.round(x));
  return String(parseFloat(x.toFixed(x >= 10 ? 1 : 2)));
}
