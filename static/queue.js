// queue.js — the listener's accept queue: connections whose handshake the
// kernel has finished, waiting for accept() (length / backlog of listen(2)).

import { $, setText } from './dom.js';
import { t } from './i18n.js';

/** QueueView draws the accept-queue gauge. */
export class QueueView {
  constructor({ root, model }) {
    this.root = root;
    this.model = model;
    this.bar = $('#queue-bar', root);
    this.peakMark = $('#queue-peak', root);
    this.text = $('#queue-text', root);
    this.peakText = $('#queue-peak-text', root);
    this.version = -1;
  }

  setLang() {
    this.version = -1;
  }

  reset() {
    this.version = -1;
  }

  render() {
    if (this.model.version === this.version) return;
    this.version = this.model.version;
    const l = this.model.listener;
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
  }
}
