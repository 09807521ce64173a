// controls.js — what a presenter drives: pause/resume, playback speed,
// catch up, step mode with the next pending syscall, server pace, follow
// one connection, clear, download and load a trace, theme, presenter mode,
// language, and the keyboard shortcuts with their `?` overlay.

import { $, h, setText, clear } from './dom.js';
import { t } from './i18n.js';
import { SPEEDS } from './buffer.js';

/** PACES are the server-side slow-motion settings (ms each gated call waits). */
export const PACES = [0, 100, 250, 500, 1000];

/** KEYS lists the shortcuts, for the handler and the overlay alike. */
export const KEYS = [
  { keys: ['Space'], help: 'key.space', act: 'togglePause' },
  { keys: ['-', '+'], help: 'key.speed' },
  { keys: ['g'], help: 'key.catchup', act: 'catchUp' },
  { keys: ['s'], help: 'key.stepmode', act: 'toggleStepMode' },
  { keys: ['n', 'Enter'], help: 'key.step', act: 'step' },
  { keys: ['f', 'F'], help: 'key.follow' },
  { keys: ['c'], help: 'key.clear', act: 'clear' },
  { keys: ['t'], help: 'key.theme', act: 'toggleTheme' },
  { keys: ['p'], help: 'key.presenter', act: 'togglePresenter' },
  { keys: ['l'], help: 'key.lang', act: 'toggleLang' },
  { keys: ['d'], help: 'key.download', act: 'download' },
  { keys: ['o'], help: 'key.open', act: 'openTrace' },
  { keys: ['?'], help: 'key.help', act: 'toggleHelp' },
  { keys: ['Esc'], help: 'key.esc', act: 'escape' },
];

/**
 * actionFor maps a key press to an action name, or '' (pure). Keys typed
 * into inputs are not shortcuts; modifier chords belong to the browser.
 */
export function actionFor(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return '';
  const tag = (e.target?.tagName ?? '').toLowerCase();
  if (tag === 'input' || tag === 'select' || tag === 'textarea') return e.key === 'Escape' ? 'escape' : '';
  switch (e.key) {
    case ' ': return 'togglePause';
    case '-': case '_': case '[': return 'slower';
    case '+': case '=': case ']': return 'faster';
    case 'g': return 'catchUp';
    case 's': return 'toggleStepMode';
    case 'n': case 'Enter': return tag === 'button' && e.key === 'Enter' ? '' : 'step';
    case 'f': return 'followNext';
    case 'F': return 'unfollow';
    case 'c': return 'clear';
    case 't': return 'toggleTheme';
    case 'p': return 'togglePresenter';
    case 'l': return 'toggleLang';
    case 'd': return 'download';
    case 'o': return 'openTrace';
    case '?': return 'toggleHelp';
    case 'Escape': return 'escape';
  }
  return '';
}

/** pendingText describes the call waiting at the step gate: `read(7) · conn 1`. Pure. */
export function pendingText(p) {
  if (!p) return '';
  const fd = p.fd !== undefined && p.fd >= 0 ? String(p.fd) : '';
  return `${p.op}(${fd})${p.conn ? ` · conn ${p.conn}` : ''}${p.layer && p.layer !== 'syscall' ? ` · ${p.layer}` : ''}`;
}

/** Controls binds the header's controls and the keyboard to the app. */
export class Controls {
  constructor({ root, app }) {
    this.root = root;
    this.app = app;
    this.el = {
      pause: $('#btn-pause'),
      speed: $('#sel-speed'),
      catchup: $('#btn-catchup'),
      stepmode: $('#btn-stepmode'),
      step: $('#btn-step'),
      pending: $('#pending'),
      pace: $('#sel-pace'),
      follow: $('#sel-follow'),
      clear: $('#btn-clear'),
      download: $('#btn-download'),
      load: $('#btn-load'),
      file: $('#file-trace'),
      backlive: $('#btn-backlive'),
      theme: $('#btn-theme'),
      presenter: $('#btn-presenter'),
      lang: $('#btn-lang'),
      help: $('#btn-help'),
      helpPanel: $('#help'),
      helpList: $('#help-list'),
    };
    this.followIds = '';
    this.bind();
    this.setLang();
  }

  bind() {
    const e = this.el;
    const a = this.app;
    e.pause.addEventListener('click', () => a.togglePause());
    e.speed.addEventListener('change', () => a.setSpeed(e.speed.value));
    e.catchup.addEventListener('click', () => a.catchUp());
    e.stepmode.addEventListener('click', () => a.toggleStepMode());
    e.step.addEventListener('click', () => a.step());
    e.pace.addEventListener('change', () => a.setPace(Number(e.pace.value)));
    e.follow.addEventListener('change', () => a.follow(Number(e.follow.value)));
    e.clear.addEventListener('click', () => a.clear());
    e.download.addEventListener('click', () => a.download());
    e.load.addEventListener('click', () => e.file.click());
    e.file.addEventListener('change', () => {
      const f = e.file.files?.[0];
      if (f) a.loadTraceFile(f);
      e.file.value = '';
    });
    e.backlive.addEventListener('click', () => a.backToLive());
    e.theme.addEventListener('click', () => a.toggleTheme());
    e.presenter.addEventListener('click', () => a.togglePresenter());
    e.lang.addEventListener('click', () => a.toggleLang());
    e.help.addEventListener('click', () => this.toggleHelp());
    e.helpPanel.addEventListener('click', (ev) => { if (ev.target === e.helpPanel) this.toggleHelp(false); });
    document.addEventListener('keydown', (ev) => this.onKey(ev));
  }

  onKey(ev) {
    const act = actionFor(ev);
    if (!act) return;
    ev.preventDefault();
    if (act === 'toggleHelp') return this.toggleHelp();
    if (act === 'openTrace') return this.el.file.click();
    if (act === 'escape' && !this.el.helpPanel.hidden) return this.toggleHelp(false);
    this.app[act]?.();
  }

  toggleHelp(show) {
    const p = this.el.helpPanel;
    p.hidden = show === undefined ? !p.hidden : !show;
  }

  setLang() {
    const e = this.el;
    const cur = e.speed.value || 'live';
    clear(e.speed);
    for (const sp of SPEEDS) {
      e.speed.append(h('option', { value: sp.id }, sp.id === 'live' ? t('speed.live') : t('speed.rate', { n: sp.id })));
    }
    e.speed.value = cur;
    const pace = e.pace.value || '0';
    clear(e.pace);
    for (const p of PACES) e.pace.append(h('option', { value: String(p) }, p ? t('pace.ms', { n: p }) : t('pace.none')));
    e.pace.value = pace;
    this.followIds = '';
    clear(e.helpList);
    for (const k of KEYS) {
      e.helpList.append(h('dt', {}, ...k.keys.flatMap((x, i) => (i ? [' ', h('kbd', {}, x)] : [h('kbd', {}, x)]))), h('dd', {}, t(k.help)));
    }
  }

  /** update shows the app's state on the controls (called each frame; cheap). */
  update(st) {
    const e = this.el;
    setText(e.pause, st.paused ? t('ctl.resume') : t('ctl.pause'));
    e.pause.classList.toggle('active', st.paused);
    e.pause.setAttribute('aria-pressed', String(st.paused));
    if (e.speed.value !== st.speed) e.speed.value = st.speed;
    e.catchup.disabled = st.behind === 0;
    const step = st.control.mode === 'step';
    setText(e.stepmode, step ? t('ctl.livemode') : t('ctl.stepmode'));
    e.stepmode.classList.toggle('active', step);
    e.stepmode.setAttribute('aria-pressed', String(step));
    e.stepmode.disabled = st.offline || !st.canStep;
    e.step.disabled = st.offline || !step;
    e.pace.disabled = st.offline || !st.canStep;
    if (Number(e.pace.value) !== (st.control.pace ?? 0) && document.activeElement !== e.pace) {
      const v = String(st.control.pace ?? 0);
      if (![...e.pace.options].some((o) => o.value === v)) e.pace.append(h('option', { value: v }, t('pace.ms', { n: v })));
      e.pace.value = v;
    }
    const p = st.control.pending?.[0];
    setText(e.pending, step ? (p ? `${t('ctl.next')} ${pendingText(p)}` : t('ctl.nopending')) : '');
    e.pending.hidden = !step;
    // The follow list: rebuilt only when the set of connections changes.
    const ids = st.conns.join(',') + '|' + st.followed;
    if (ids !== this.followIds) {
      this.followIds = ids;
      clear(e.follow);
      e.follow.append(h('option', { value: '0' }, t('follow.all')));
      const list = st.followed && !st.conns.includes(st.followed) ? [...st.conns, st.followed] : st.conns;
      for (const id of list) e.follow.append(h('option', { value: String(id) }, t('follow.conn', { n: id })));
      e.follow.value = String(st.followed || 0);
    }
    e.backlive.hidden = !st.offline;
    e.download.disabled = st.offline;
    e.presenter.classList.toggle('active', st.presenter);
    e.presenter.setAttribute('aria-pressed', String(st.presenter));
  }
}
