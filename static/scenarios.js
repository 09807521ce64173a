// scenarios.js — the lessons as one-click buttons. The list comes from the
// server (GET /api/v1/scenarios) and is drawn generically: a title and a
// narration in both languages, and the command a presenter could type
// instead. Clicking runs it (POST /api/v1/scenarios/{name}); progress
// arrives on the stream as "scenario" messages.

import { $, h, setText, clear } from './dom.js';
import { t, lang } from './i18n.js';
import { getJSON, postJSON } from './stream.js';

/** pick returns the text for the current language from {en, ja} or a plain string. */
export function pick(v, l) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  return v[l] ?? v.en ?? Object.values(v)[0] ?? '';
}

/** ScenariosView draws the scenario bar. */
export class ScenariosView {
  constructor({ root, onRun }) {
    this.root = root;
    this.onRun = onRun;
    this.list = $('#scenario-list', root);
    this.narr = $('#scenario-narration', root);
    this.status = $('#scenario-status', root);
    this.cmd = $('#scenario-command', root);
    this.narr.addEventListener('click', () => this.root.classList.toggle('open'));
    this.items = [];
    this.selected = null;
    this.state = null; // last scenario message
    this.offline = false;
  }

  async load() {
    try {
      const v = await getJSON('/api/v1/scenarios');
      this.items = Array.isArray(v) ? v : v?.scenarios ?? [];
    } catch {
      this.items = [];
    }
    this.draw();
  }

  setOffline(off) {
    this.offline = off;
    this.draw();
  }

  setLang() {
    this.draw();
  }

  draw() {
    const l = lang();
    clear(this.list);
    if (!this.items.length) {
      this.list.append(h('span', { class: 'scenario-none' }, t('sc.none')));
    }
    for (const sc of this.items) {
      const b = h('button', {
        type: 'button', class: 'scenario-btn', 'data-name': sc.name,
        title: pick(sc.title, l), 'aria-pressed': this.selected === sc.name ? 'true' : 'false',
      }, sc.name);
      b.disabled = this.offline;
      if (this.state?.name === sc.name && this.state.state === 'running') b.classList.add('running');
      b.addEventListener('click', () => this.run(sc));
      this.list.append(b);
    }
    this.drawSelected();
  }

  drawSelected() {
    const l = lang();
    const sc = this.items.find((x) => x.name === this.selected);
    this.root.classList.toggle('has-selection', !!sc);
    clear(this.narr);
    if (sc) this.narr.append(h('b', {}, pick(sc.title, l) || sc.name), ' ', pick(sc.narration, l));
    clear(this.cmd);
    if (sc?.command) this.cmd.append(h('span', { class: 'cmd-label' }, t('sc.command')), ' ', h('code', {}, sc.command));
    this.cmd.title = sc?.command ?? '';
    this.narr.title = sc ? pick(sc.narration, l) : '';
    const st = this.state && this.state.name === this.selected ? this.state : null;
    let s = '';
    if (st) {
      s = t(`sc.${st.state}`) ;
      if (st.step) s += ` · ${st.step}`;
      if (st.msg) s += ` · ${st.msg}`;
    }
    setText(this.status, s);
    this.status.title = s;
    this.status.className = `scenario-status ${st?.state ?? ''}`;
  }

  async run(sc) {
    this.selected = sc.name;
    this.state = { name: sc.name, state: 'running' };
    this.draw();
    this.onRun?.(sc);
    try {
      await postJSON(`/api/v1/scenarios/${encodeURIComponent(sc.name)}`, {});
    } catch (e) {
      const busy = /409|running/i.test(String(e.message));
      this.state = { name: sc.name, state: 'failed', msg: busy ? t('sc.busy') : String(e.message) };
      this.drawSelected();
    }
  }

  /** onMessage takes a {"type":"scenario"} message from the stream. */
  onMessage(m) {
    this.state = m;
    if (!this.selected) this.selected = m.name;
    this.draw();
  }
}
