// poller.js — the epoll loop: each epoll_wait as it blocks (and for how
// long) and as it wakes, with the fds it reported ready, their flags, and
// the goroutine each one wakes.

import { $, h, setText, clear } from './dom.js';
import { fmtDur } from './format.js';
import { t } from './i18n.js';

const KEEP = 8; // wake-ups listed

/** PollerView draws the poller panel. */
export class PollerView {
  constructor({ root, model, onSelect }) {
    this.root = root;
    this.model = model;
    this.onSelect = onSelect;
    this.statusEl = $('#poller-status', root);
    this.listEl = $('#poller-list', root);
    this.countEl = $('#poller-count', root);
    this.reset();
  }

  reset() {
    this.blockedSince = -1; // engine time the poller entered epoll_wait, -1 awake/unknown
    this.epfd = -1;
    this.wakes = []; // {ev, ready: [events]}
    this.count = 0;
    this.dirty = true;
  }

  setLang() {
    this.dirty = true;
  }

  add(ev) {
    if (ev.layer === 'poller' && ev.op === 'wait') {
      this.blockedSince = ev.t ?? 0;
      this.epfd = ev.fd;
    } else if (ev.layer === 'syscall' && ev.op === 'epoll_wait') {
      this.blockedSince = -1;
      this.epfd = ev.fd;
      this.count++;
      this.wakes.push({ ev, ready: [] });
      if (this.wakes.length > KEEP) this.wakes.shift();
    } else if (ev.layer === 'poller' && (ev.op === 'ready' || ev.op === 'stale')) {
      if (!this.wakes.length) this.wakes.push({ ev: null, ready: [] });
      const w = this.wakes[this.wakes.length - 1];
      if (w.ready.length < 64) w.ready.push(ev);
    } else {
      return;
    }
    this.dirty = true;
  }

  render(nowNs) {
    const fd = this.epfd >= 0 ? this.epfd : this.model.epollFD;
    if (this.blockedSince >= 0) {
      setText(this.statusEl, t('poller.blocked', { fd, d: fmtDur(Math.max(0, nowNs - this.blockedSince)) }));
      this.statusEl.className = 'poller-status blocked';
    } else if (this.count) {
      setText(this.statusEl, t('poller.running'));
      this.statusEl.className = 'poller-status awake';
    } else {
      setText(this.statusEl, t('poller.idle'));
      this.statusEl.className = 'poller-status';
    }
    if (!this.dirty) return;
    this.dirty = false;
    setText(this.countEl, t('poller.waits', { n: this.count }));
    clear(this.listEl);
    for (const w of [...this.wakes].reverse()) {
      const n = w.ev ? w.ev.ret : w.ready.length;
      const head = h('div', { class: 'wake-head' },
        t('poller.woke', { d: w.ev?.dur ? fmtDur(w.ev.dur) : '?', n }));
      const fds = h('ul', { class: 'wake-fds' });
      for (const r of w.ready) {
        const target = r.op === 'stale' ? 'stale — ignored' : r.conn ? `conn ${r.conn}${r.mode ? ' (' + r.mode + ')' : ''}` : 'accept loop';
        const li = h('li', { class: `ready-fd${r.op === 'stale' ? ' stale' : ''}` },
          h('span', { class: 'rfd' }, `fd ${r.fd}`), ' ',
          h('span', { class: 'rflags' }, r.flags ?? ''), ' → ',
          h('span', { class: 'rtarget' }, target));
        li.addEventListener('click', () => this.onSelect?.(r));
        fds.append(li);
      }
      const li = h('li', { class: 'wake' }, head, fds);
      if (w.ev) head.addEventListener('click', () => this.onSelect?.(w.ev));
      this.listEl.append(li);
    }
  }
}
