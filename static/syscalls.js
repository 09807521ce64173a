// syscalls.js — the strace-like log: one line per event, filterable by
// connection, fd and layer (syscalls only by default, like strace), with a
// free-text search. Lines are text nodes: request data never becomes markup.

import { $, h, setText } from './dom.js';
import { fmtTime, isError, straceLine } from './format.js';
import { matches, parseFilter } from './filter.js';
import { t, lang } from './i18n.js';
import { why } from './why.js';

const KEEP = 5000; // events remembered for re-filtering
const MAX_LINES = 800; // lines in the DOM
const MAX_PER_FRAME = 200;

/** SyscallLogView draws the log and its filters. */
export class SyscallLogView {
  constructor({ root, onSelect }) {
    this.root = root;
    this.onSelect = onSelect;
    this.list = $('#log-lines', root);
    this.scroller = $('#log-scroll', root);
    this.countEl = $('#log-count', root);
    this.inputs = {
      conn: $('#log-conn', root),
      fd: $('#log-fd', root),
      layer: $('#log-layer', root),
      text: $('#log-text', root),
    };
    this.events = [];
    this.pending = [];
    this.stick = true;
    this.filter = this.readFilter();
    for (const el of Object.values(this.inputs)) {
      el.addEventListener('input', () => this.refilter());
      el.addEventListener('change', () => this.refilter());
    }
    this.scroller.addEventListener('scroll', () => {
      const el = this.scroller;
      this.stick = el.scrollHeight - el.scrollTop - el.clientHeight < 30;
    });
  }

  readFilter() {
    const layer = this.inputs.layer.value;
    return parseFilter({
      conn: this.inputs.conn.value,
      fd: this.inputs.fd.value,
      layers: layer && layer !== 'all' ? [layer] : [],
      text: this.inputs.text.value,
    });
  }

  setLang() {
    this.refilter();
  }

  /** follow puts a connection in the conn filter (0 clears it). */
  follow(conn) {
    this.inputs.conn.value = conn ? String(conn) : '';
    this.refilter();
  }

  reset() {
    this.events = [];
    this.pending = [];
    this.list.replaceChildren();
    this.updateCount();
  }

  refilter() {
    this.filter = this.readFilter();
    this.list.replaceChildren();
    this.pending = this.events.filter((ev) => matches(ev, this.filter, straceLine(ev))).slice(-MAX_LINES);
    this.stick = true;
  }

  add(ev) {
    this.events.push(ev);
    if (this.events.length > KEEP) this.events.splice(0, this.events.length - KEEP);
    if (matches(ev, this.filter, this.filter.text ? straceLine(ev) : '')) this.pending.push(ev);
  }

  render() {
    if (!this.pending.length) return;
    const batch = this.pending.length > MAX_PER_FRAME ? this.pending.slice(-MAX_PER_FRAME) : this.pending;
    this.pending = [];
    const frag = document.createDocumentFragment();
    const l = lang();
    for (const ev of batch) frag.append(this.line(ev, l));
    this.list.append(frag);
    const extra = this.list.childElementCount - MAX_LINES;
    for (let i = 0; i < extra; i++) this.list.firstElementChild.remove();
    if (this.stick) this.scroller.scrollTop = this.scroller.scrollHeight;
    this.updateCount();
  }

  updateCount() {
    setText(this.countEl, t('log.count', { n: this.list.childElementCount }));
  }

  line(ev, l) {
    const cls = ['log-line', `layer-${ev.layer}`];
    if (isError(ev)) cls.push('err');
    if (ev.errno === 'EAGAIN') cls.push('eagain');
    const el = h('div', { class: cls.join(' '), 'data-seq': ev.seq ?? '', 'data-conn': ev.conn ?? 0, 'data-fd': ev.fd, title: why(ev, l) },
      h('span', { class: 'log-time' }, fmtTime(ev.t)),
      h('span', { class: 'log-conn' }, ev.conn ? `c${ev.conn}` : ''),
      h('span', { class: 'log-layer' }, ev.layer),
      h('span', { class: 'log-text' }, straceLine(ev)));
    el.addEventListener('click', () => this.onSelect?.(ev));
    return el;
  }
}
