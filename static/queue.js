// queue.js — the listener's accept queue: connections whose handshake the
// kernel has finished, waiting for accept() (length / backlog of listen(2)).

import { $, s, setText } from './dom.js';
import { t } from './i18n.js';

const HISTORY_NS = 30e9; // the sparkline's window
const MAX_SAMPLES = 600;

/** QueueView draws the accept-queue gauge. */
export class QueueView {
  constructor({ root, model }) {
    this.root = root;
    this.model = model;
    this.bar = $('#queue-bar', root);
    this.peakMark = $('#queue-peak', root);
    this.text = $('#queue-text', root);
    this.peakText = $('#queue-peak-text', root);
    this.infoEl = $('#queue-info', root);
    this.line = s('polyline', { class: 'queue-line', points: '' });
    this.spark = s('svg', { class: 'queue-spark', viewBox: '0 0 300 60', preserveAspectRatio: 'none', 'aria-hidden': 'true' }, this.line);
    $('#queue-spark', root).replaceChildren(this.spark);
    this.samples = []; // [engine t, queue length]
    this.version = -1;
  }

  setLang() {
    this.version = -1;
  }

  reset() {
    this.version = -1;
    this.samples = [];
  }

  render(nowNs) {
    const l = this.model.listener;
    const last = this.samples[this.samples.length - 1];
    if (!last || last[1] !== l.queue || nowNs - last[0] > 1e9) {
      this.samples.push([nowNs, l.queue]);
      if (this.samples.length > MAX_SAMPLES) this.samples.shift();
      this.drawSpark(nowNs, Math.max(1, l.backlog || 1));
    }
    if (this.model.version === this.version) return;
    this.version = this.model.version;
    if (l.fd < 0 && !l.backlog) {
      setText(this.text, t('q.none'));
      setText(this.peakText, '');
      this.bar.style.width = '0%';
      this.peakMark.style.left = '0%';
      return;
    }
    const max = Math.max(1, l.backlog || 1);
    // A queue of a few in a backlog of 128 would be invisible at scale: the
    // gauge grows on a square-root scale, the text says the true numbers.
    const frac = (n) => `${Math.min(100, Math.sqrt(Math.min(n, max) / max) * 100).toFixed(1)}%`;
    this.bar.style.width = frac(l.queue);
    this.peakMark.style.left = frac(l.peak);
    this.root.classList.toggle('full', l.queue >= max);
    this.root.classList.toggle('busy', l.queue > 0);
    setText(this.text, t('q.len', { n: l.queue, max: l.backlog || '?' }));
    setText(this.peakText, t('q.peak', { n: l.peak }));
    let synrecv = 0;
    for (const k of this.model.sockets.values()) if (k.state === 'SYN_RECEIVED') synrecv++;
    setText(this.infoEl, `listen(${l.fd}, ${l.backlog}) · ${l.local}${synrecv ? ` · SYN-RECEIVED ${synrecv}` : ''}`);
  }

  /** drawSpark draws the queue length over the last 30 s (square-root scale, like the gauge). */
  drawSpark(nowNs, max) {
    const pts = [];
    for (const [ts, n] of this.samples) {
      if (nowNs - ts > HISTORY_NS) continue;
      const x = 300 - ((nowNs - ts) / HISTORY_NS) * 300;
      const y = 58 - Math.sqrt(Math.min(n, max) / max) * 56;
      pts.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    }
    pts.push(`300,${pts.length ? pts[pts.length - 1].split(',')[1] : 58}`);
    this.line.setAttribute('points', pts.join(' '));
  }
}
