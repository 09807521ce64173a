// tcpstate.js — the TCP state machine of RFC 9293 (Figure 5) as SVG, with
// every socket's current state lit and each transition animated along its
// edge. A chip per connection says who reported the state: the kernel
// through TCP_INFO (solid), the kernel through sock_diag (dashed), or the
// engine's own inference (dotted).

import { $, h, s, setText, clear } from './dom.js';
import { t } from './i18n.js';
import { BOX, EDGES, NODES, VIEW, nodeFor, normState, pathFor, stateLabel } from './states.js';

const CHIPS = 3; // chips drawn per box before "+n"
const RECENT = 7; // transitions listed under the diagram

/** TCPStateView draws the state diagram. */
export class TCPStateView {
  constructor({ root, model, onFollow }) {
    this.root = root;
    this.model = model;
    this.onFollow = onFollow;
    this.followed = 0;
    this.version = -1;
    this.recent = []; // latest transitions, newest last
    this.fired = []; // transitions to animate on the next render
    this.seen = new Map(); // conn → Set of states it was drawn in (tests)
    this.build();
  }

  build() {
    const svg = s('svg', { id: 'tcp-svg', viewBox: `0 0 ${VIEW.w} ${VIEW.h}`, role: 'img', 'aria-labelledby': 'tcp-title' });
    svg.append(s('defs', {},
      s('marker', { id: 'tcp-arrow', viewBox: '0 0 10 10', refX: '9', refY: '5', markerUnits: 'userSpaceOnUse', markerWidth: '14', markerHeight: '14', orient: 'auto-start-reverse' },
        s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'tcp-arrowhead' }))));
    this.edges = new Map();
    const edgeG = s('g', { class: 'tcp-edges' });
    for (const e of EDGES) {
      const [x1, y1, x2, y2] = clip(NODES[e.from], NODES[e.to]);
      const line = s('line', { class: 'tcp-edge', x1, y1, x2, y2, 'marker-end': 'url(#tcp-arrow)' });
      const { lx, ly, anchor } = labelPos(x1, y1, x2, y2);
      const label = s('text', { class: 'tcp-edge-label', x: lx, y: ly, 'text-anchor': anchor }, e.label);
      edgeG.append(line, label);
      this.edges.set(`${e.from}>${e.to}`, { line, label, x1, y1, x2, y2 });
    }
    this.jumpG = s('g', { class: 'tcp-jumps' });
    const nodeG = s('g', { class: 'tcp-nodes' });
    this.nodes = new Map();
    for (const [id, p] of Object.entries(NODES)) {
      const g = s('g', { class: 'tcp-node', 'data-state': id, transform: `translate(${p.x - BOX.w / 2} ${p.y - BOX.h / 2})` });
      const rect = s('rect', { width: BOX.w, height: BOX.h, rx: 10 });
      const name = s('text', { class: 'tcp-node-name', x: BOX.w / 2, y: 20, 'text-anchor': 'middle' }, stateLabel(id));
      const chips = s('g', { class: 'tcp-chips', transform: `translate(${BOX.w / 2} 35)` });
      g.append(rect, name, chips);
      nodeG.append(g);
      this.nodes.set(id, { g, rect, chips, key: '' });
    }
    this.dotG = s('g', { class: 'tcp-dots' });
    this.legendG = s('g', { class: 'tcp-legend' });
    svg.append(edgeG, this.jumpG, nodeG, this.dotG, this.legendG);
    $('#tcp-stage', this.root).replaceChildren(svg);
    this.recentEl = $('#tcp-recent', this.root);
    this.setLang();
  }

  setLang() {
    // The legend lives in the diagram's free top-right corner, so it scales
    // with it and costs the panel no height.
    clear(this.legendG);
    ['tcp_info', 'sock_diag', 'engine'].forEach((src, i) => {
      this.legendG.append(s('g', { class: `tcp-chip src-${src}`, transform: `translate(${VIEW.w - 196} ${14 + i * 21})` },
        s('rect', { x: -18, y: -8, width: 36, height: 16, rx: 8 }),
        s('text', { 'text-anchor': 'middle', y: 4.5 }, 'c1'),
        s('text', { class: 'tcp-legend-text', x: 26, y: 5 }, t(`tcp.src.${src}`))));
    });
    this.renderRecent();
  }

  reset() {
    this.recent = [];
    this.fired = [];
    this.seen.clear();
    clear(this.jumpG);
    clear(this.dotG);
    this.version = -1;
    this.renderRecent();
  }

  follow(conn) {
    this.followed = conn;
    this.version = -1;
    this.renderRecent();
  }

  /** add takes one played event; state changes are remembered for animation. */
  add(ev) {
    if (ev.layer !== 'tcp' || ev.op !== 'state') return;
    const tr = { conn: ev.conn, from: ev.from ?? '', to: ev.to ?? '', source: ev.source ?? '', remote: ev.remote ?? '', seq: ev.seq };
    // The state before `from`, for a CLOSED that was only the fd's view.
    const before = this.recent.findLast((r) => r.conn === ev.conn && ev.conn && normState(r.to) === normState(tr.from));
    if (before) tr.prev = before.from;
    this.recent.push(tr);
    if (this.recent.length > 50) this.recent.shift();
    if (this.fired.length < 20) this.fired.push(tr);
    if (ev.conn) {
      let set = this.seen.get(ev.conn);
      if (!set) { set = new Set(); this.seen.set(ev.conn, set); }
      set.add(nodeFor(ev.to, ev.from));
    }
    this.recentDirty = true;
  }

  render() {
    for (const tr of this.fired) this.animate(tr);
    this.fired = [];
    if (this.recentDirty) { this.renderRecent(); this.recentDirty = false; }
    if (this.model.version === this.version) return;
    this.version = this.model.version;
    const byNode = new Map();
    for (const c of this.model.conns.values()) {
      if (!c.state) continue;
      const last = c.states[c.states.length - 1];
      const node = nodeFor(c.state, last?.from ?? (c.closed ? 'ESTABLISHED' : ''));
      push(byNode, node, { kind: 'conn', id: c.id, source: c.source, closed: !!c.closed });
    }
    for (const k of this.model.sockets.values()) {
      const last = k.states[k.states.length - 1];
      push(byNode, nodeFor(k.state, last?.from ?? ''), { kind: 'sock', id: k.key, source: k.source });
    }
    if (this.model.listener.fd >= 0) push(byNode, 'LISTEN', { kind: 'listener', id: this.model.listener.fd, source: 'engine' });
    for (const [id, n] of this.nodes) {
      const who = byNode.get(id) ?? [];
      n.g.classList.toggle('lit', who.length > 0);
      n.g.classList.toggle('followed', !!this.followed && who.some((w) => w.kind === 'conn' && w.id === this.followed));
      const key = who.map((w) => `${w.kind}${w.id}${w.source}`).join(',');
      if (key === n.key) continue;
      n.key = key;
      this.drawChips(n.chips, who);
    }
  }

  drawChips(g, who) {
    clear(g);
    const shown = who.slice(-CHIPS);
    const wChip = 40;
    const extra = who.length - shown.length;
    const total = shown.length + (extra > 0 ? 1 : 0);
    let x = -((total * wChip) / 2) + wChip / 2;
    for (const w of shown) {
      const label = w.kind === 'conn' ? `c${w.id}` : w.kind === 'listener' ? `fd${w.id}` : '•';
      const chip = s('g', { class: `tcp-chip src-${w.source || 'engine'}${w.kind === 'conn' && w.id === this.followed ? ' followed' : ''}`, transform: `translate(${x} 0)` },
        s('rect', { x: -19, y: -8.5, width: 38, height: 17, rx: 8 }),
        s('text', { 'text-anchor': 'middle', y: 5 }, label),
        s('title', {}, `${w.kind === 'sock' ? w.id : label} · ${w.source || 'engine'}`));
      if (w.kind === 'conn') chip.addEventListener('click', () => this.onFollow?.(w.id));
      g.append(chip);
      x += wChip;
    }
    if (extra > 0) g.append(s('text', { class: 'tcp-chip-more', x, y: 4, 'text-anchor': 'middle' }, `+${extra}`));
  }

  /**
   * animate fires the edges of a transition and sends a dot along them.
   * States in between that were too quick to observe (FIN-WAIT-1 →
   * TIME-WAIT passes FIN-WAIT-2) are walked through on the figure's edges;
   * a transition with no way on the figure (ESTABLISHED → CLOSED: a RST) is
   * drawn as a jump.
   */
  animate(tr) {
    if (this.followed && tr.conn !== this.followed) return;
    if (!tr.from) return;
    let from = tr.from;
    // The fd's socket reads CLOSED once the kernel moved the connection to
    // a TIME-WAIT socket of its own; sock_diag then reports CLOSED →
    // TIME-WAIT. On the figure that is the step after the state before.
    if (normState(from) === 'CLOSED' && tr.prev) from = tr.prev;
    const rst = normState(from) === 'ESTABLISHED' && normState(tr.to) === 'CLOSED';
    const path = rst ? null : pathFor(from, tr.to);
    if (path) {
      path.forEach((e, i) => {
        const el = this.edges.get(`${e.from}>${e.to}`);
        setTimeout(() => this.fire(el, tr.source), i * 450);
      });
      return;
    }
    const a = NODES[nodeFor(from, '')];
    const b = NODES[nodeFor(tr.to, from)];
    if (!a || !b || a === b) return;
    const [x1, y1, x2, y2] = clip(a, b);
    const jump = s('line', { class: 'tcp-jump', x1, y1, x2, y2, 'marker-end': 'url(#tcp-arrow)' });
    const { lx, ly, anchor } = labelPos(x1, y1, x2, y2);
    const label = s('text', { class: 'tcp-jump-label', x: lx, y: ly, 'text-anchor': anchor }, t('tcp.jump'));
    this.jumpG.append(jump, label);
    setTimeout(() => { jump.remove(); label.remove(); }, 4000);
    this.dot(x1, y1, x2, y2, tr.source);
  }

  fire(el, source) {
    for (const part of [el.line, el.label]) {
      part.classList.remove('fired');
      part.getBBox(); // restart the CSS animation
      part.classList.add('fired');
    }
    this.dot(el.x1, el.y1, el.x2, el.y2, source);
  }

  dot(x1, y1, x2, y2, source) {
    const dot = s('circle', { class: `tcp-dot src-${source || 'engine'}`, r: 8 });
    this.dotG.append(dot);
    const anim = dot.animate(
      [{ transform: `translate(${x1}px, ${y1}px)` }, { transform: `translate(${x2}px, ${y2}px)` }],
      { duration: 450, easing: 'ease-in-out', fill: 'forwards' });
    anim.onfinish = () => dot.remove();
    if (this.dotG.childElementCount > 30) this.dotG.firstChild.remove();
  }

  renderRecent() {
    const list = this.recent.filter((r) => !this.followed || r.conn === this.followed).slice(-RECENT).reverse();
    clear(this.recentEl);
    if (!list.length) {
      this.recentEl.append(h('li', { class: 'none' }, t('tcp.none')));
      return;
    }
    for (const r of list) {
      const who = r.conn ? `conn ${r.conn}` : r.remote || '?';
      this.recentEl.append(h('li', { 'data-conn': r.conn || '', 'data-to': r.to },
        h('span', { class: 'tr-who' }, who), ' ',
        h('span', { class: 'tr-states' }, `${r.from ? stateLabel(r.from) : '·'} → ${stateLabel(r.to)}`), ' ',
        h('span', { class: `src src-${r.source || 'engine'}` }, r.source || 'engine')));
    }
  }

  /** states lists the diagram boxes a connection was drawn in (tests). */
  states(conn) {
    return [...(this.seen.get(conn) ?? [])];
  }
}

function push(m, k, v) {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}

/** clip returns the segment between two boxes' borders, centre to centre. */
function clip(a, b) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const hw = BOX.w / 2 + 3;
  const hh = BOX.h / 2 + 3;
  const ta = Math.min(dx ? hw / Math.abs(dx) : Infinity, dy ? hh / Math.abs(dy) : Infinity);
  return [
    round(a.x + dx * ta), round(a.y + dy * ta),
    round(b.x - dx * ta), round(b.y - dy * ta),
  ];
}

function labelPos(x1, y1, x2, y2) {
  const lx = (x1 + x2) / 2;
  const ly = (y1 + y2) / 2;
  if (Math.abs(x2 - x1) < 4) {
    // vertical: beside the line, on the side with room
    return lx > VIEW.w * 0.6 ? { lx: lx - 8, ly: ly + 4, anchor: 'end' } : { lx: lx + 8, ly: ly + 4, anchor: 'start' };
  }
  if (Math.abs(y2 - y1) < 4) return { lx, ly: ly - 8, anchor: 'middle' }; // horizontal: above
  return { lx: lx + (x2 > x1 ? 8 : -8), ly: ly - 4, anchor: x2 > x1 ? 'start' : 'end' };
}

function round(x) {
  return Math.round(x * 10) / 10;
}
