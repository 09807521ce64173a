// layers.js — the hero: six bands from the handler down to the syscalls.
// Each band names our file and Go's; shows its latest call as text; a token
// per connection sits in the band of that connection's latest step and
// moves as events arrive; the followed connection leaves a trail of its
// recent steps, so read → EAGAIN → park → ready → wake → read is drawn as
// the zigzag it is. Below the bands, the wait chain in words and the "why"
// of the latest step.

import { BANDS, bandIndex, bandText, nodeLabel } from './bands.js';
import { $, h, s, setText, clear } from './dom.js';
import { fmtCount } from './format.js';
import { t, lang } from './i18n.js';
import { Story } from './story.js';
import { why } from './why.js';

const W = 900; // viewBox width
const BAND_MIN = 74; // band height in viewBox units; grows to fill a tall panel
const BAND_MAX = 128;
const GAP = 4;
const X_STAGE = 236; // trail starts
const X_NOW = 556; // the newest trail step
const TRAIL_STEP = 54;
const TRAIL_SHOWN = 6;
const X_TOKENS = 594; // token column
const TOKEN_DX = 32;
const TOKENS_PER_BAND = 3;
const X_LATEST = W - 12; // latest-call text, right-aligned
const MAX_TOKENS = 24;
const NAME_MAX = X_STAGE - 30; // widest a band name may be


/** LayersView draws the layer diagram. */
export class LayersView {
  /**
   * @param {object} o
   * @param {Element} o.root the hero panel
   * @param {import('./model.js').Model} o.model
   * @param {(conn:number)=>void} o.onFollow called when a token is clicked
   * @param {(ev:object)=>void} o.onSelect called when a trail step is clicked
   */
  constructor({ root, model, onFollow, onSelect }) {
    this.root = root;
    this.model = model;
    this.onFollow = onFollow;
    this.onSelect = onSelect;
    this.story = new Story();
    this.followed = 0;
    this.focus = 0; // the connection whose trail is drawn
    this.focusAt = 0; // wall ms of its latest step
    this.latest = new Map(); // layer → event
    this.pulse = new Set(); // layers hit since last render
    this.tokens = new Map(); // conn → <g>
    this.highRate = false;
    this.rates = {};
    this.hint = '';
    this.dirty = true;
    this.lastWhy = null;
    this.build();
  }

  build() {
    this.bandH = BAND_MIN;
    const svg = s('svg', { id: 'layers-svg', viewBox: `0 0 ${W} ${BANDS.length * BAND_MIN}`, role: 'img', 'aria-labelledby': 'layers-title', preserveAspectRatio: 'xMidYMin meet' });
    const defs = s('defs', {},
      s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '9', refY: '5', markerUnits: 'userSpaceOnUse', markerWidth: '16', markerHeight: '16', orient: 'auto-start-reverse' },
        s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' })));
    svg.append(defs);
    this.bands = new Map();
    BANDS.forEach((b, i) => {
      const g = s('g', { class: `band band-${b.id}`, 'data-layer': b.id });
      const bg = s('rect', { class: 'band-bg', x: 0, y: 0, width: W, rx: 8 });
      const stripe = s('rect', { class: 'band-stripe', x: 0, y: 0, width: 9, rx: 3 });
      const name = s('text', { class: 'band-name', x: 20, y: 25 });
      const ours = s('text', { class: 'band-file', x: 20, y: 46 }, s('tspan', { class: 'band-file-k' }), s('tspan', {}, ' ' + b.ours));
      const go = s('text', { class: 'band-file', x: 20, y: 63 }, s('tspan', { class: 'band-file-k' }), s('tspan', {}, ' ' + b.go));
      const rateBar = s('rect', { class: 'band-rate', x: X_STAGE + 16, width: 0, height: 20, rx: 4 });
      const rateText = s('text', { class: 'band-rate-text', x: X_STAGE + 24 });
      const latest = s('text', { class: 'band-latest', x: X_LATEST, y: 32, 'text-anchor': 'end' });
      const sub = s('text', { class: 'band-sub', x: X_LATEST, y: 56, 'text-anchor': 'end' });
      g.append(bg, stripe, name, ours, go, rateBar, rateText, latest, sub);
      g.addEventListener('click', () => {
        const ev = this.latest.get(b.id);
        if (ev) this.onSelect?.(ev);
      });
      svg.append(g);
      this.bands.set(b.id, { g, bg, stripe, name, ours, go, latest, sub, rateBar, rateText });
    });
    this.trailG = s('g', { class: 'trail' });
    this.tokenG = s('g', { class: 'tokens' });
    this.hintT = s('text', { class: 'layers-hint', x: (X_STAGE + X_LATEST) / 2 - 60, 'text-anchor': 'middle' });
    svg.append(this.trailG, this.tokenG, this.hintT);
    this.svg = svg;

    this.focusLabel = h('span', { class: 'focus-label', id: 'layers-focus' });
    this.chainEl = h('div', { class: 'chain', id: 'chain', 'aria-live': 'polite' });
    this.whyEl = h('p', { class: 'why', id: 'why' });
    const stage = $('#layers-stage', this.root);
    stage.replaceChildren(svg);
    this.layout(BAND_MIN);
    // Taller bands when the panel is tall (a 1080p projector): the diagram
    // fills its panel instead of leaving the bottom half empty.
    new ResizeObserver(() => {
      const r = stage.getBoundingClientRect();
      if (r.width < 10 || r.height < 10) return;
      const bh = Math.max(BAND_MIN, Math.min(BAND_MAX, Math.floor((W * r.height) / r.width / BANDS.length)));
      if (bh !== this.bandH) this.layout(bh);
    }).observe(stage);
    $('#layers-focus-slot', this.root).replaceChildren(this.focusLabel);
    $('#chain-slot', this.root).replaceChildren(this.chainEl);
    $('#why-slot', this.root).replaceChildren(this.whyEl);
    this.setLang();
  }

  /** layout places the bands for a band height (viewBox units). */
  layout(bh) {
    this.bandH = bh;
    this.svg.setAttribute('viewBox', `0 0 ${W} ${BANDS.length * bh}`);
    const pad = (bh - GAP - 70) / 2; // the label block is 70 units tall
    BANDS.forEach((b, i) => {
      const band = this.bands.get(b.id);
      band.g.setAttribute('transform', `translate(0 ${i * bh})`);
      band.bg.setAttribute('height', String(bh - GAP));
      band.stripe.setAttribute('height', String(bh - GAP));
      band.name.setAttribute('y', String(pad + 25));
      band.ours.setAttribute('y', String(pad + 46));
      band.go.setAttribute('y', String(pad + 63));
      band.latest.setAttribute('y', String(pad + 32));
      band.sub.setAttribute('y', String(pad + 56));
      band.rateBar.setAttribute('y', String((bh - GAP) / 2 - 14));
      band.rateText.setAttribute('y', String((bh - GAP) / 2 + 1));
    });
    this.hintT.setAttribute('y', String(this.mid(0) + 6));
    // Tokens keep their place in a band: no animation for a relayout.
    for (const g of this.tokens.values()) g.remove();
    this.tokens.clear();
    this.dirty = true;
  }

  /** mid is the vertical centre of band i. */
  mid(i) {
    return i * this.bandH + (this.bandH - GAP) / 2;
  }

  setLang() {
    for (const b of BANDS) {
      const band = this.bands.get(b.id);
      setText(band.name, t(`layer.${b.id}`));
      // Long names (ファイルディスクリプタ管理層) are narrowed to fit the label column.
      band.name.removeAttribute('textLength');
      band.name.removeAttribute('lengthAdjust');
      const w = band.name.getComputedTextLength?.() ?? 0;
      if (w > NAME_MAX) {
        band.name.setAttribute('textLength', String(NAME_MAX));
        band.name.setAttribute('lengthAdjust', 'spacingAndGlyphs');
      }
      setText(band.ours.firstChild, t('band.ours'));
      setText(band.go.firstChild, t('band.go'));
    }
    this.dirty = true;
    this.chainDirty = true;
    if (this.lastWhy) this.showWhy(this.lastWhy);
  }

  /** reset forgets the trails (new snapshot, replay, clear). */
  reset() {
    this.story.reset();
    this.latest.clear();
    for (const g of this.tokens.values()) g.remove();
    this.tokens.clear();
    this.focus = 0;
    this.lastWhy = null;
    this.chainDirty = true;
    this.dirty = true;
  }

  /** follow pins the trail to one connection (0: the latest active one). */
  follow(conn) {
    this.followed = conn;
    if (conn) this.focus = conn;
    this.dirty = true;
  }

  /** setHint shows a line in the empty diagram (the curl command to try). */
  setHint(text) {
    this.hint = text;
    this.dirty = true;
  }

  /**
   * setRates switches between drawing steps and counting them: at a rate no
   * one can watch (or when the server summarized), bands show rates.
   */
  setRates(rates, high) {
    this.rates = rates;
    if (high !== this.highRate) {
      this.highRate = high;
      this.root.classList.toggle('high-rate', high);
    }
    this.dirty = true;
  }

  /** add takes one played event. */
  add(ev, now) {
    // getsockopt(TCP_INFO) only observes; the band keeps the call that served.
    const observing = ev.layer === 'syscall' && ev.op === 'getsockopt';
    if (!observing) {
      this.latest.set(ev.layer, ev);
      this.pulse.add(ev.layer);
    }
    const chain = this.story.add(ev);
    if (chain) this.chainDirty = true;
    const key = ev.conn || 0;
    const was = this.focus;
    if (this.followed) {
      this.focus = this.followed;
    } else if (key !== this.focus) {
      // Stay on a connection while it is busy; move to another when the
      // current one is quiet or gone, so one curl reads as one story.
      const cur = this.model.conns.get(this.focus);
      const quiet = now - this.focusAt > 900;
      if (key !== 0 && (this.focus === 0 || quiet || !cur || cur.closed)) this.focus = key;
    }
    if (key === this.focus) this.focusAt = now;
    if (was !== this.focus) this.chainDirty = true;
    if (!observing && (!this.followed || key === this.followed)) this.lastWhy = ev;
    this.dirty = true;
  }

  /** render draws what changed since the last frame. */
  render() {
    if (this.pulse.size) {
      for (const l of this.pulse) {
        const b = this.bands.get(l);
        b?.bg.animate([{ opacity: 1 }, { opacity: 0.55 }], { duration: 500, easing: 'ease-out' });
        b?.stripe.animate([{ opacity: 1 }, { opacity: 0.4 }, { opacity: 1 }], { duration: 500 });
      }
      this.pulse.clear();
    }
    if (this.chainDirty) {
      this.renderChain();
      this.chainDirty = false;
    }
    if (!this.dirty) return;
    this.dirty = false;
    for (const b of BANDS) {
      const band = this.bands.get(b.id);
      const ev = this.latest.get(b.id);
      const txt = ev ? bandText(ev) : { main: '', sub: '' };
      setText(band.latest, txt.main);
      setText(band.sub, txt.sub);
      band.latest.classList.toggle('err', !!ev && ev.layer === 'syscall' && (ev.ret ?? 0) < 0);
      band.latest.classList.toggle('eagain', !!ev && ev.errno === 'EAGAIN');
      if (this.highRate) {
        const r = this.rates[b.id] ?? 0;
        const max = Math.max(1, ...Object.values(this.rates));
        band.rateBar.setAttribute('width', String(Math.round((X_TOKENS - X_STAGE - 36) * (r / max))));
        setText(band.rateText, `${fmtCount(r)}/s · ${fmtCount(this.model.counters[b.id] ?? 0)}`);
      } else {
        band.rateBar.setAttribute('width', '0');
        setText(band.rateText, '');
      }
    }
    const empty = this.latest.size === 0;
    setText(this.hintT, empty ? this.hint : '');
    if (this.highRate) {
      clear(this.trailG);
      this.renderTokens(true);
    } else {
      this.renderTrail();
      this.renderTokens(false);
    }
    const label = this.focus ? t('layers.focus', { n: this.focus }) : this.latest.size ? t('layers.focusacc') : '';
    setText(this.focusLabel, label);
    this.focusLabel.classList.toggle('pinned', !!this.followed);
    if (this.lastWhy) this.showWhy(this.lastWhy);
  }

  renderTrail() {
    const trail = this.story.trail(this.focus).slice(-TRAIL_SHOWN);
    clear(this.trailG);
    if (!trail.length) return;
    const n = trail.length;
    const pts = trail.map((ev, k) => ({ ev, x: X_NOW - (n - 1 - k) * TRAIL_STEP, y: this.mid(bandIndex(ev.layer)) }));
    // Edges first, under the nodes. Sleeping (park → ready/wake) is dashed.
    for (let k = 1; k < n; k++) {
      const a = pts[k - 1];
      const b = pts[k];
      const asleep = a.ev.layer === 'fd' && a.ev.op === 'park';
      const cls = asleep ? 'trail-edge asleep' : a.ev.errno === 'EAGAIN' ? 'trail-edge eagain' : 'trail-edge';
      this.trailG.append(s('line', { class: cls, x1: a.x + 12, y1: a.y, x2: b.x - 12, y2: b.y, 'marker-end': 'url(#arrow)' }));
      if (asleep) {
        this.trailG.append(s('text', { class: 'trail-note', x: (a.x + b.x) / 2, y: Math.max(a.y, b.y) + 26, 'text-anchor': 'middle' }, 'zz'));
      }
    }
    pts.forEach((p, k) => {
      const newest = k === n - 1;
      const g = s('g', { class: `trail-node layer-${p.ev.layer}${newest ? ' newest' : ''}${p.ev.errno ? ' errno' : ''}`, transform: `translate(${p.x} ${p.y})`, tabindex: '0' });
      g.append(s('circle', { r: newest ? 13 : 10 }));
      // Labels alternate above and below so neighbours in one band do not collide.
      const above = k % 2 === (n - 1) % 2;
      g.append(s('text', { class: 'trail-label', y: above ? -19 : 30, 'text-anchor': 'middle' }, nodeLabel(p.ev)));
      g.append(s('title', {}, `#${p.ev.seq ?? ''} ${p.ev.layer} ${p.ev.op}`));
      g.addEventListener('click', (e) => { e.stopPropagation(); this.onSelect?.(p.ev); });
      this.trailG.append(g);
    });
  }

  renderTokens(hidden) {
    const live = hidden ? [] : this.model.liveConns().slice(-MAX_TOKENS);
    const keep = new Set();
    const perBand = new Map();
    for (const c of live) {
      const trail = this.story.trail(c.id);
      const last = trail[trail.length - 1];
      if (!last) continue;
      const bi = bandIndex(last.layer);
      const slot = perBand.get(bi) ?? 0;
      perBand.set(bi, slot + 1);
      if (slot >= TOKENS_PER_BAND) continue;
      keep.add(c.id);
      let g = this.tokens.get(c.id);
      if (!g) {
        g = s('g', { class: 'token', 'data-conn': c.id, tabindex: '0', role: 'button' },
          s('circle', { r: 14 }), s('text', { 'text-anchor': 'middle', y: 5 }, String(c.id)),
          s('title', {}, `conn ${c.id}`));
        g.addEventListener('click', () => this.onFollow?.(c.id));
        // Appear where it is, then move: only later steps animate.
        g.style.transform = `translate(${X_TOKENS + slot * TOKEN_DX}px, ${this.mid(bi)}px)`;
        this.tokenG.append(g);
        this.tokens.set(c.id, g);
      } else {
        g.style.transform = `translate(${X_TOKENS + slot * TOKEN_DX}px, ${this.mid(bi)}px)`;
      }
      g.classList.toggle('focus', c.id === this.focus);
      g.classList.toggle('parked', !!c.parked);
    }
    for (const [id, g] of this.tokens) {
      if (!keep.has(id)) { g.remove(); this.tokens.delete(id); }
    }
  }

  renderChain() {
    const c = this.chainFor();
    clear(this.chainEl);
    this.chainEl.append(h('span', { class: 'chain-title' }, t('layers.chain')));
    if (!c) {
      this.chainEl.append(h('span', { class: 'chain-none' }, t('layers.chainnone')));
      return;
    }
    c.steps.forEach((st, i) => {
      if (i) this.chainEl.append(h('span', { class: 'chain-arrow', 'aria-hidden': 'true' }, '→'));
      const el = h('button', { class: `chain-step layer-${st.layer} kind-${st.kind}`, type: 'button', title: why(st.ev, lang()) }, st.text);
      el.addEventListener('click', () => this.onSelect?.(st.ev));
      this.chainEl.append(el);
    });
    if (!c.done) this.chainEl.append(h('span', { class: 'chain-arrow pending', 'aria-hidden': 'true' }, '→ …'));
  }

  /** chainFor picks the wait chain to show: the followed connection's, else the latest. */
  chainFor() {
    if (this.followed) return this.story.chains.get(this.followed) ?? null;
    // The connection in view first: the accept loop's own wait (accept4 →
    // EAGAIN → park) ends every accept and would hide the request's.
    return this.story.chains.get(this.focus) ?? this.story.lastChain;
  }

  showWhy(ev) {
    const text = why(ev, lang());
    const op = `${ev.layer} · ${ev.op}${ev.errno ? ' ' + ev.errno : ''}`;
    if (this.whyEl.dataset.key === `${ev.seq}:${lang()}`) return;
    this.whyEl.dataset.key = `${ev.seq}:${lang()}`;
    this.whyEl.replaceChildren(
      h('span', { class: 'why-label' }, t('why.label')),
      h('span', { class: `why-op layer-${ev.layer}` }, op),
      h('span', { class: 'why-text' }, text || '—'));
  }

  /** saw reports whether the diagram drew layer:op for a connection (tests). */
  saw(conn, layerOp) {
    return this.story.saw(conn, layerOp);
  }
}
