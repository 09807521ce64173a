// timeline.js — a sequence diagram with five lanes: client ↔ kernel ↔
// poller ↔ connection goroutine ↔ handler. Each event becomes an arrow
// between lanes or a note on one; clicking it opens its details, including
// the raw bytes read and written.

import { $, h } from './dom.js';
import { callText, eventText, fmtBytes, fmtDur, isError } from './format.js';
import { t } from './i18n.js';
import { follows } from './filter.js';

/** LANES are the timeline's columns, left to right. */
export const LANES = ['client', 'kernel', 'poller', 'conn', 'handler'];
const C = 0, K = 1, P = 2, G = 3, HD = 4;

const KEEP_EVENTS = 3000; // remembered, to rebuild when the filter changes
const MAX_ROWS = 400; // in the DOM
const MAX_PER_FRAME = 150;

/**
 * timelineRows maps an event to the rows it draws: arrows {from, to, label}
 * or notes {lane, label}. `inferred` marks the client side of the picture,
 * which the server does not see directly (bytes arriving, a FIN, a RST).
 * Pure: tested without a browser.
 */
export function timelineRows(ev) {
  const arrow = (from, to, label, cls = '') => ({ from, to, label, cls });
  const note = (lane, label, cls = '') => ({ lane, label, cls });
  const err = isError(ev) ? 'err' : ev.errno === 'EAGAIN' ? 'eagain' : '';
  switch (ev.layer) {
    case 'syscall': {
      const call = callText(ev);
      const ok = (ev.ret ?? 0) >= 0 && !ev.errno;
      switch (ev.op) {
        case 'getsockopt':
          return []; // observing only: not part of the story
        case 'accept4':
          return [arrow(K, G, call, err)];
        case 'read':
          if (ok && ev.ret > 0) return [arrow(C, K, `${fmtBytes(ev.ret)}`, 'inferred'), arrow(K, G, call)];
          if (ok && ev.ret === 0) return [arrow(C, K, 'FIN', 'inferred'), arrow(K, G, `${call} (EOF)`)];
          if (ev.errno === 'ECONNRESET') return [arrow(C, K, 'RST', 'inferred err'), arrow(K, G, call, 'err')];
          return [arrow(K, G, call, err)];
        case 'write':
        case 'writev':
          if (ok && ev.ret > 0) return [arrow(G, K, call), arrow(K, C, fmtBytes(ev.ret), 'inferred')];
          return [arrow(G, K, call, err)];
        case 'shutdown':
          return [arrow(G, K, call, err), arrow(K, C, 'FIN', 'inferred')];
        case 'close':
          return [arrow(G, K, call, err)];
        case 'epoll_wait':
          return [arrow(K, P, call, err)];
        default:
          return [arrow(G, K, call, err)];
      }
    }
    case 'poller':
      if (ev.op === 'wait') return [note(P, eventText(ev), 'blocked')];
      if (ev.op === 'ready') return [arrow(P, G, `ready fd ${ev.fd} ${ev.flags ?? ''}`.trim())];
      return [note(P, eventText(ev), 'dim')];
    case 'fd':
      if (ev.op === 'park') return [note(G, `park (${ev.mode || 'read'})`, 'park')];
      if (ev.op === 'wake') return [note(G, `wake (${ev.mode || 'read'})${ev.dur ? ' · slept ' + fmtDur(ev.dur) : ''}`, 'wake')];
      return [note(G, eventText(ev), 'err')];
    case 'tcp':
      if (ev.op === 'accept') return [arrow(C, K, `connect ${ev.remote ?? ''}`.trim(), 'inferred'), note(G, eventText(ev))];
      if (ev.op === 'state') return [note(K, eventText(ev), 'state')];
      if (ev.op === 'queue' || ev.op === 'listen') return [note(K, eventText(ev))];
      return [note(G, eventText(ev), err)];
    case 'http':
      if (ev.op === 'request') return [note(G, eventText(ev), 'request')];
      if (ev.op === 'response') return [note(G, `${ev.proto || 'HTTP/1.1'} ${ev.status ?? ''}${ev.bytes ? ' · ' + fmtBytes(ev.bytes) : ''}`, 'response')];
      return [note(G, eventText(ev), ev.op === 'error' ? 'err' : '')];
    case 'app':
      if (ev.op === 'handler_start') return [arrow(G, HD, eventText(ev))];
      if (ev.op === 'handler_end') return [arrow(HD, G, eventText(ev))];
      return [arrow(HD, G, eventText(ev), 'err')];
  }
  return [note(G, eventText(ev))];
}

/** TimelineView draws the sequence diagram. */
export class TimelineView {
  constructor({ root, onSelect }) {
    this.root = root;
    this.onSelect = onSelect;
    this.rowsEl = $('#tl-rows', root);
    this.scroller = $('#tl-scroll', root);
    this.events = [];
    this.pending = [];
    this.followed = 0;
    this.lastT = 0;
    this.stick = true;
    this.scroller.addEventListener('scroll', () => {
      const el = this.scroller;
      this.stick = el.scrollHeight - el.scrollTop - el.clientHeight < 30;
    });
  }

  setLang() {}

  reset() {
    this.events = [];
    this.pending = [];
    this.rowsEl.replaceChildren();
    this.lastT = 0;
  }

  follow(conn) {
    this.followed = conn;
    this.rowsEl.replaceChildren();
    this.lastT = 0;
    this.pending = this.events.filter((ev) => follows(ev, conn)).slice(-MAX_ROWS);
  }

  add(ev) {
    this.events.push(ev);
    if (this.events.length > KEEP_EVENTS) this.events.splice(0, this.events.length - KEEP_EVENTS);
    if (follows(ev, this.followed)) this.pending.push(ev);
  }

  render() {
    if (!this.pending.length) return;
    // Under load, draw the newest rows only: older ones would be trimmed anyway.
    const batch = this.pending.length > MAX_PER_FRAME ? this.pending.slice(-MAX_PER_FRAME) : this.pending;
    this.pending = [];
    const frag = document.createDocumentFragment();
    for (const ev of batch) {
      for (const r of timelineRows(ev)) frag.append(this.row(ev, r));
    }
    this.rowsEl.append(frag);
    const extra = this.rowsEl.childElementCount - MAX_ROWS;
    for (let i = 0; i < extra; i++) this.rowsEl.firstElementChild.remove();
    if (this.stick) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  row(ev, r) {
    const dt = this.lastT ? (ev.t ?? 0) - this.lastT : 0;
    this.lastT = ev.t ?? this.lastT;
    const time = h('span', { class: 'tl-time' }, dt > 0 ? `+${fmtDur(dt)}` : '');
    const lanes = h('div', { class: 'tl-lanes' });
    let mark;
    if ('lane' in r) {
      mark = h('span', { class: `tl-note ${r.cls}` }, r.label);
      mark.style.gridColumn = `${r.lane + 1} / span 1`;
    } else {
      const lo = Math.min(r.from, r.to);
      const hi = Math.max(r.from, r.to);
      mark = h('span', { class: `tl-arrow ${r.from < r.to ? 'right' : 'left'} ${r.cls}` }, h('span', { class: 'tl-label' }, r.label));
      mark.style.gridColumn = `${lo + 1} / ${hi + 2}`;
      // From the centre of one lane to the centre of the other: half a lane
      // of margin each side (grid items' % margins are of their area).
      mark.style.margin = `0 ${50 / (hi - lo + 1)}%`;
    }
    lanes.append(mark);
    const row = h('div', { class: `tl-row layer-${ev.layer}`, 'data-seq': ev.seq ?? '', 'data-conn': ev.conn ?? 0, tabindex: '-1' },
      time, lanes, h('span', { class: 'tl-conn' }, ev.conn ? `c${ev.conn}` : ''));
    row.addEventListener('click', () => this.onSelect?.(ev));
    return row;
  }

  /** laneTitles returns the lane headings in the current language. */
  static laneTitles() {
    return LANES.map((l) => t(`tl.${l}`));
  }
}
