// details.js — one event in full: its fields, why it happens, and the raw
// bytes of the request as read and of the response as written, the way
// the seeds show them with httputil.DumpRequest. Every value is put in a
// text node: a header holding <img onerror=…> is shown, never run.

import { $, h, setText, clear } from './dom.js';
import { fmtBytes, fmtDur, fmtTime, straceLine, visibleBytes } from './format.js';

/** bytesPre draws bytes as text with the line ends and control bytes dimmed. */
function bytesPre(cls, data) {
  return h('pre', { class: `bytes ${cls}` }, visibleBytes(data).map((x) => (x.mark ? h('span', { class: 'crlf' }, x.text) : x.text)));
}
import { t, lang } from './i18n.js';
import { why } from './why.js';

const ORDER = ['seq', 't', 'layer', 'op', 'fd', 'conn', 'args', 'ret', 'errno', 'bytes', 'dur', 'from', 'to', 'source', 'flags', 'mode', 'n', 'max', 'local', 'remote', 'method', 'target', 'proto', 'status', 'msg'];

/**
 * bytesFor finds the bytes to show for an event: its own data, and for a
 * request or handler step the reads that carried the request and the
 * writes that carried the response on the same connection. Pure.
 */
export function bytesFor(ev, history) {
  const reads = (e) => e.layer === 'syscall' && e.op === 'read' && e.data;
  const writes = (e) => e.layer === 'syscall' && (e.op === 'write' || e.op === 'writev') && e.data;
  const out = { request: '', response: '', own: '' };
  if (ev.layer === 'syscall' && ev.data) {
    if (reads(ev)) out.request = ev.data;
    else if (writes(ev)) out.response = ev.data;
    else out.own = ev.data;
    return out;
  }
  if (ev.data && ev.layer === 'http') {
    if (ev.op === 'request') out.request = ev.data;
    else if (ev.op === 'response') out.response = ev.data;
    else out.own = ev.data;
  } else if (ev.data) {
    out.own = ev.data;
  }
  if (!ev.conn) return out;
  const same = history.filter((e) => e.conn === ev.conn);
  const i = same.findIndex((e) => e.seq === ev.seq);
  if (i < 0) return out;
  if (!out.request) {
    for (let k = i; k >= 0; k--) if (reads(same[k])) { out.request = same[k].data; break; }
  }
  if (!out.response) {
    for (let k = i; k < same.length; k++) if (writes(same[k])) { out.response = same[k].data; break; }
  }
  return out;
}

/** DetailsView is the side panel with one event's details. */
export class DetailsView {
  constructor({ root, history }) {
    this.root = root;
    this.history = history; // () => recent events
    this.body = $('#details-body', root);
    this.title = $('#details-title', root);
    this.ev = null;
    $('#details-close', root).addEventListener('click', () => this.close());
  }

  get open() {
    return !this.root.hidden;
  }

  show(ev) {
    this.ev = ev;
    this.root.hidden = false;
    this.draw();
    $('#details-close', this.root).focus({ preventScroll: true });
  }

  close() {
    this.root.hidden = true;
    this.ev = null;
  }

  setLang() {
    if (this.ev) this.draw();
  }

  draw() {
    const ev = this.ev;
    setText(this.title, t('det.title', { seq: ev.seq ?? '?' }));
    clear(this.body);
    this.body.append(
      h('p', { class: 'det-line' }, h('code', {}, straceLine(ev))),
      h('p', { class: 'det-why' }, why(ev, lang()) || ''));
    const dl = h('dl', { class: 'det-fields' });
    for (const k of ORDER) {
      if (!(k in ev) || ev[k] === '' || (ev[k] === 0 && !['fd', 'conn', 'ret', 'seq'].includes(k))) continue;
      let v = ev[k];
      if (k === 't') v = `${fmtTime(v)} s`;
      else if (k === 'dur') v = `${fmtDur(v)} (${v} ns)`;
      else if (k === 'bytes') v = `${fmtBytes(v)}`;
      dl.append(h('dt', {}, k), h('dd', {}, String(v)));
    }
    this.body.append(h('h3', {}, t('det.fields')), dl);
    const b = bytesFor(ev, this.history());
    if (b.request) this.body.append(h('h3', {}, t('det.request')), bytesPre('request', b.request));
    if (b.response) this.body.append(h('h3', {}, t('det.response')), bytesPre('response', b.response));
    if (b.own) this.body.append(h('h3', {}, t('det.data')), bytesPre('', b.own));
  }
}
