// fdtable.js — the server process's file descriptors (seed 003): std
// streams, the epoll fd, the eventfd, the listener, one per connection.
// Closed fds fade; when the kernel hands a closed number to a new
// connection (it always picks the lowest free one), the row says so.

import { $, h, setText } from './dom.js';
import { fmtAge, fmtBytes } from './format.js';
import { t } from './i18n.js';
import { stateLabel } from './states.js';

const MAX_ROWS = 150; // a load test opens thousands; the table shows the first

/** FDTableView draws the fd table. */
export class FDTableView {
  constructor({ root, model, onFollow }) {
    this.root = root;
    this.model = model;
    this.onFollow = onFollow;
    this.body = $('#fd-rows', root);
    this.more = $('#fd-more', root);
    this.rows = new Map(); // fd → {tr, cells, key}
    this.version = -1;
    this.lastAge = 0;
    this.followed = 0;
  }

  setLang() {
    this.version = -1;
  }

  follow(conn) {
    this.followed = conn;
    this.version = -1;
  }

  reset() {
    this.drawn = false;
    this.body.replaceChildren();
    this.rows.clear();
    this.version = -1;
  }

  /** render redraws when the model changed, and refreshes ages twice a second. */
  render(nowNs, wallMs) {
    const ageTick = wallMs - this.lastAge > 500;
    if (this.model.version === this.version && !ageTick) return;
    this.version = this.model.version;
    this.lastAge = wallMs;
    const all = mergeStd(this.model.fdRows());
    const shown = all.slice(0, MAX_ROWS);
    const keep = new Set();
    let prev = null;
    let newest = null;
    for (const f of shown) {
      // A reused number is a new row: the old one's fade must not carry over.
      const key = `${f.fd}:${f.conn ?? ''}:${f.kind}`;
      let r = this.rows.get(f.fd);
      if (r && r.key !== key) {
        r.tr.remove();
        r = null;
      }
      if (!r) {
        r = this.makeRow(f, key);
        this.rows.set(f.fd, r);
        if (this.drawn && f.kind === 'conn') newest = r.tr;
      }
      this.fill(r, f, nowNs);
      keep.add(f.fd);
      // Keep DOM order = fd order without re-appending rows that are in place.
      const want = prev ? prev.nextSibling : this.body.firstChild;
      if (want !== r.tr) this.body.insertBefore(r.tr, want);
      prev = r.tr;
    }
    for (const [fd, r] of this.rows) {
      if (!keep.has(fd)) { r.tr.remove(); this.rows.delete(fd); }
    }
    setText(this.more, all.length > MAX_ROWS ? `+${all.length - MAX_ROWS}` : '');
    // A new connection's row is the news: keep it in view on a small screen.
    if (newest) newest.scrollIntoView({ block: 'nearest' });
    this.drawn = true;
  }

  makeRow(f, key) {
    const cells = {
      fd: h('td', { class: 'c-fd' }),
      kind: h('td', { class: 'c-kind' }),
      addr: h('td', { class: 'c-addr' }),
      state: h('td', { class: 'c-state' }),
      age: h('td', { class: 'c-age' }, h('span', { class: 'age' }), h('span', { class: 'bytes' })),
    };
    const tr = h('tr', { 'data-fd': f.fd, class: `kind-${f.kind}` }, Object.values(cells));
    tr.addEventListener('click', () => {
      const c = Number(tr.dataset.conn);
      if (c) this.onFollow?.(c);
    });
    // Appear highlighted: a new fd is news (but not the first table drawn).
    if (this.drawn) {
      tr.classList.add('new');
      setTimeout(() => tr.classList.remove('new'), 1200);
    }
    return { tr, cells, key };
  }

  fill(r, f, nowNs) {
    const { tr, cells } = r;
    if (f.conn) tr.dataset.conn = String(f.conn);
    tr.classList.toggle('closed', !!f.closedAt);
    tr.classList.toggle('reused', !!f.reusedFrom);
    tr.classList.toggle('followed', !!this.followed && f.conn === this.followed);
    setText(cells.fd, f.label ?? String(f.fd));
    // kind: label, the connection id, and the reuse note.
    const kind = f.kind === 'std' && f.name ? f.name : f.kind === 'conn' && f.conn ? `conn ${f.conn}` : t(`fd.kind.${f.kind}`);
    const kindKey = `${kind}|${f.conn ?? ''}|${f.reusedFrom ?? ''}`;
    if (cells.kind.dataset.k !== kindKey) {
      cells.kind.dataset.k = kindKey;
      cells.kind.replaceChildren(h('span', { class: f.kind === 'conn' ? 'conn-badge' : '', title: t(`fd.kind.${f.kind}`) }, kind));
      if (f.reusedFrom) cells.kind.append(h('div', { class: 'reuse-note' }, t('fd.reused', { n: f.reusedFrom })));
    }
    let addr = '';
    if (f.kind === 'conn') addr = pairText(f.local, f.remote);
    else if (f.local) addr = f.local;
    setText(cells.addr, addr);
    cells.addr.title = f.kind === 'conn' ? `local ${f.local || '?'} ⇄ remote ${f.remote || '?'}` : '';
    const st = f.closedAt ? t('fd.closed') : f.state ? stateLabel(f.state) : '';
    const stKey = `${st}|${f.closedAt ? '' : f.source ?? ''}`;
    if (cells.state.dataset.k !== stKey) {
      cells.state.dataset.k = stKey;
      cells.state.replaceChildren(h('span', { class: 'state-name' }, st));
      if (!f.closedAt && f.source) cells.state.append(h('span', { class: `src src-${f.source}` }, f.source));
    }
    setText(cells.age.firstChild, f.opened ? fmtAge((f.closedAt || nowNs) - f.opened) : '—');
    // Bytes under the age: the table keeps to five columns on a 1280 screen.
    const hasBytes = f.kind === 'conn';
    setText(cells.age.lastChild, hasBytes ? `${fmtBytes(f.bytesIn ?? 0)} / ${fmtBytes(f.bytesOut ?? 0)}` : '');
  }
}

/**
 * mergeStd shows fds 0, 1 and 2 as one row: they matter only as the reason
 * the first socket is not fd 0 (seed 003). Pure.
 */
export function mergeStd(rows) {
  const std = rows.filter((r) => r.kind === 'std');
  if (std.length < 2) return rows;
  const merged = { fd: std[0].fd, kind: 'std', name: 'stdio', label: std.map((r) => r.fd).join(' ') };
  return [merged, ...rows.filter((r) => r.kind !== 'std')];
}

/**
 * pairText writes a connection's two ends compactly: the local host is
 * host is written once, in the title, when both ends share it (loopback):
 * `:8080 ⇄ :51234`. Pure.
 */
export function pairText(local, remote) {
  const l = local || '?';
  const r = remote || '?';
  const i = l.lastIndexOf(':');
  const j = r.lastIndexOf(':');
  if (i > 0 && j > 0 && l.slice(0, i) === r.slice(0, j)) return `${l.slice(i)} ⇄ ${r.slice(j)}`;
  return `${l} ⇄ ${r}`;
}
