// app.js — wiring: the stream feeds the playback queue; one animation-frame
// loop takes the events due, applies them to the model and hands them to
// the views, then lets each view draw once. Controls call back in here.

import { Playback } from './buffer.js';
import { Controls } from './controls.js';
import { DetailsView } from './details.js';
import { $, setText } from './dom.js';
import { FDTableView } from './fdtable.js';
import { fmtCount, fmtDur } from './format.js';
import { apply as applyI18n, lang, setLang, t } from './i18n.js';
import { LayersView } from './layers.js';
import { Model } from './model.js';
import { PollerView } from './poller.js';
import { QueueView } from './queue.js';
import { ScenariosView } from './scenarios.js';
import { Stream, postJSON } from './stream.js';
import { SyscallLogView } from './syscalls.js';
import { TCPStateView } from './tcpstate.js';
import { TimelineView } from './timeline.js';
import { parseTrace } from './trace.js';

const HIGH_RATE = 300; // events/s beyond which bands count instead of drawing steps
const MAX_TRACE_BYTES = 64 << 20;
const LAYERS = ['app', 'http', 'tcp', 'fd', 'poller', 'syscall'];

/** Clock estimates the engine's clock (Event.t) between events. */
class Clock {
  constructor() { this.t = 0; this.at = performance.now(); this.running = true; }
  sync(t) { if (t > this.t) { this.t = t; this.at = performance.now(); } }
  now() { return this.running ? this.t + (performance.now() - this.at) * 1e6 : this.t; }
}

/** Rates counts received events per layer over the last second. */
class Rates {
  constructor() { this.buckets = []; }
  add(byLayer, now) {
    const b = this.bucket(now);
    for (const [l, n] of Object.entries(byLayer)) b.c[l] = (b.c[l] ?? 0) + n;
  }
  bucket(now) {
    const k = Math.floor(now / 250);
    let b = this.buckets[this.buckets.length - 1];
    if (!b || b.k !== k) { b = { k, c: {} }; this.buckets.push(b); }
    while (this.buckets.length && this.buckets[0].k <= k - 4) this.buckets.shift();
    return b;
  }
  perSecond(now) {
    this.bucket(now);
    const out = {};
    for (const b of this.buckets) for (const [l, n] of Object.entries(b.c)) out[l] = (out[l] ?? 0) + n;
    return out;
  }
}

class App {
  constructor() {
    this.model = new Model();
    this.playback = new Playback();
    this.clock = new Clock();
    this.rates = new Rates();
    this.followed = 0;
    this.offline = false;
    this.offlineName = '';
    this.status = 'connecting';
    this.statusDetail = null;
    this.hello = null;
    this.dropped = 0; // events this page lost (the server counted them for us)
    this.droppedBase = 0; // losses of earlier connections of the stream
    this.summarized = 0;
    this.summarizedAt = -1e9;
    this.canStep = false;
    this.lastExpire = 0;
    this.errors = [];

    const params = new URLSearchParams(location.search);
    const saved = (k) => params.get(k) ?? safeGet(`sockscope.${k}`);
    const l = saved('lang') ?? (navigator.language?.startsWith('ja') ? 'ja' : 'en');
    setLang(l === 'ja' ? 'ja' : 'en');
    const theme = saved('theme') ?? (matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark');
    document.documentElement.dataset.theme = theme === 'light' ? 'light' : 'dark';
    this.presenter = (saved('presenter') ?? '0') === '1';
    document.documentElement.classList.toggle('presenter', this.presenter);
    if (params.get('speed')) this.playback.setSpeed(params.get('speed'));
    applyI18n(document);

    const select = (ev) => this.details.show(ev);
    const follow = (c) => this.follow(c === this.followed ? 0 : c);
    this.layers = new LayersView({ root: $('#layers-panel'), model: this.model, onFollow: follow, onSelect: select });
    this.fdtable = new FDTableView({ root: $('#fd-panel'), model: this.model, onFollow: follow });
    this.tcp = new TCPStateView({ root: $('#tcp-panel'), model: this.model, onFollow: follow });
    this.poller = new PollerView({ root: $('#poller-panel'), model: this.model, onSelect: select });
    this.queue = new QueueView({ root: $('#queue-panel'), model: this.model });
    this.timeline = new TimelineView({ root: $('#timeline-panel'), onSelect: select });
    this.log = new SyscallLogView({ root: $('#log-panel'), onSelect: select });
    this.details = new DetailsView({ root: $('#details'), history: () => this.timeline.events });
    this.scenarios = new ScenariosView({ root: $('#scenarios'), onRun: () => this.catchUp() });
    this.views = [this.layers, this.fdtable, this.tcp, this.poller, this.queue, this.timeline, this.log];
    this.controls = new Controls({ root: $('#top'), app: this });

    this.stream = new Stream({
      onHello: (h) => this.onHello(h),
      onSnapshot: (s, history, o) => this.onSnapshot(s, history, o),
      onEvents: (evs, meta) => this.onEvents(evs, meta),
      onControl: (c) => this.model.setControl(c),
      onScenario: (m) => this.scenarios.onMessage(m),
      onStatus: (s, d) => { this.status = s; this.statusDetail = d ?? null; },
    });
    this.layers.setHint(t('layers.try', { cmd: 'curl -v http://127.0.0.1:8080/hello' }));
    this.scenarios.load();
    this.stream.start();
    requestAnimationFrame((now) => this.frame(now));
  }

  // --- stream ------------------------------------------------------------

  onHello(hello) {
    this.hello = hello;
    const caps = hello.capabilities ?? [];
    this.canStep = caps.includes('step');
    setText($('#engine-addr'), hello.engine ? `engine ${hello.engine}` : '');
    if (hello.engine) this.layers.setHint(t('layers.try', { cmd: `curl -v http://${hello.engine}/hello` }));
  }

  onSnapshot(snap, history, opts) {
    const restarted = !opts?.resync && ((this.model.seq > 0 && (snap.seq ?? 0) < this.model.seq) || (snap.t ?? 0) < this.model.t);
    if (restarted) {
      // A new server process: its clock and its seqs start over.
      this.resetViews();
      this.clock = new Clock();
    }
    // Events still waiting to be played that the snapshot already holds:
    // shown in the logs, not applied twice.
    const covered = this.playback.dropThrough(snap.seq ?? 0);
    this.model.loadSnapshot(snap);
    // Batches count this viewer's losses from zero on each connection (the
    // snapshot's own count is every viewer's): keep a running total.
    if (!opts?.resync) this.droppedBase = this.dropped;
    this.clock.sync(snap.t ?? 0);
    for (const ev of history.concat(covered)) this.show(ev, false);
    setText($('#engine-addr'), snap.engine ? `engine ${snap.engine}` : $('#engine-addr').textContent);
  }

  onEvents(events, meta) {
    const now = performance.now();
    this.playback.push(events, now);
    if (events.length) this.clock.sync(events[events.length - 1].t ?? 0);
    const by = {};
    for (const ev of events) by[ev.layer] = (by[ev.layer] ?? 0) + 1;
    const sum = meta.summary;
    if (sum && sum.count > 0) {
      this.summarized += sum.count;
      this.summarizedAt = now;
      this.model.addSummary(sum);
      for (const [l, n] of Object.entries(sum.byLayer ?? {})) by[l] = (by[l] ?? 0) + n;
    }
    this.rates.add(by, now);
    this.dropped = Math.max(this.dropped, this.droppedBase + (meta.dropped ?? 0));
  }

  // --- the frame loop ------------------------------------------------------

  frame(now) {
    try {
      this.tick(now);
    } finally {
      requestAnimationFrame((n) => this.frame(n));
    }
  }

  tick(now) {
    // Events pushed out of a full queue are applied without animation.
    for (const ev of this.playback.takeOverflow()) this.show(ev, true, now);
    for (const ev of this.playback.take(now)) this.show(ev, true, now);
    const rates = this.rates.perSecond(now);
    let total = 0;
    for (const l of LAYERS) total += rates[l] ?? 0;
    const high = total > HIGH_RATE || now - this.summarizedAt < 2000;
    this.layers.setRates(rates, high);
    const nowNs = this.offline ? this.model.t : this.clock.now();
    if (now - this.lastExpire > 500) {
      this.lastExpire = now;
      this.model.expire(nowNs);
    }
    this.layers.render();
    this.fdtable.render(nowNs, now);
    this.tcp.render();
    this.poller.render(nowNs);
    this.queue.render(nowNs);
    this.timeline.render();
    this.log.render();
    this.renderStatus(now);
    this.controls.update({
      paused: this.playback.paused,
      speed: this.playback.speed.id,
      behind: this.playback.length,
      control: this.model.control,
      canStep: this.canStep,
      offline: this.offline,
      conns: this.model.liveConns().slice(-30).map((c) => c.id),
      followed: this.followed,
      presenter: this.presenter,
    });
  }

  /** show plays one event: into the model (unless a snapshot already has it) and the views. */
  show(ev, apply, now = performance.now()) {
    if (apply) this.model.apply(ev);
    this.layers.add(ev, now);
    this.tcp.add(ev);
    this.poller.add(ev);
    this.timeline.add(ev);
    this.log.add(ev);
  }

  renderStatus(now) {
    const pill = $('#conn-status');
    let text;
    let cls = this.status;
    if (this.offline) {
      text = t('status.offline', { name: this.offlineName });
      cls = 'offline';
    } else if (this.status === 'reconnecting') {
      const left = Math.max(0, (this.statusDetail?.at ?? now) - now);
      text = t('status.reconnecting', { s: fmtDur(left * 1e6) });
    } else {
      text = t(`status.${this.status === 'replay' ? 'replay' : this.status === 'live' ? 'live' : 'connecting'}`);
    }
    setText(pill, text);
    pill.className = `pill status-${cls}`;
    const b = this.playback.behind(now);
    const behind = $('#behind');
    setText(behind, this.playback.paused
      ? `${t('status.paused')} · ${t('status.behind', { n: fmtCount(b.count), s: fmtDur(b.ms * 1e6) })}`
      : b.count ? t('status.behind', { n: fmtCount(b.count), s: fmtDur(b.ms * 1e6) }) : t('status.atlive'));
    behind.classList.toggle('lagging', b.count > 0);
    const parts = [];
    if (this.dropped) parts.push(t('status.dropped', { n: fmtCount(this.dropped) }));
    if (this.summarized) parts.push(t('status.summarized', { n: fmtCount(this.summarized) }));
    if (this.playback.skipped) parts.push(t('status.skipped', { n: fmtCount(this.playback.skipped) }));
    const d = $('#dropped');
    setText(d, parts.join(' · '));
    d.hidden = parts.length === 0;
    document.documentElement.classList.toggle('step-mode', this.model.control.mode === 'step');
  }

  // --- controls ------------------------------------------------------------

  togglePause() { this.playback.toggle(); }
  setSpeed(id) { this.playback.setSpeed(id); }
  slower() { this.playback.slower(); }
  faster() { this.playback.faster(); }

  catchUp() {
    for (const ev of this.playback.catchUp()) this.show(ev, true);
  }

  async toggleStepMode() {
    if (this.offline || !this.canStep) return;
    const step = this.model.control.mode !== 'step';
    if (step) {
      // The gate paces the server now; the page shows each step at once.
      this.catchUp();
      this.playback.setSpeed('live');
      this.playback.resume();
    }
    await this.control({ mode: step ? 'step' : 'live' });
  }

  async step() {
    if (this.model.control.mode === 'step' && !this.offline) {
      await this.control({ step: 1 });
    } else if (this.playback.paused) {
      for (const ev of this.playback.step()) this.show(ev, true);
    }
  }

  async setPace(ms) {
    await this.control({ pace: ms });
  }

  async control(body) {
    try {
      const c = await postJSON('/api/v1/control', body);
      // The reply describes the gate when the call was let through. While
      // the stream is live its control messages tell the same, in order,
      // and one follows every change; but the reply can overtake a message
      // the hub built just before this call, which would then show the
      // call just released as the next one again (and the next Step would
      // let through another than the one shown). So the reply stands in
      // for the stream only when there is none.
      if (c && this.status !== 'live') this.model.setControl(c);
    } catch (e) {
      this.toast(t('err.control', { msg: e.message }));
    }
  }

  follow(conn) {
    this.followed = conn || 0;
    for (const v of [this.layers, this.fdtable, this.tcp, this.timeline, this.log]) v.follow(this.followed);
  }

  followNext() {
    const ids = this.model.liveConns().map((c) => c.id);
    if (!ids.length) return;
    const next = ids.find((id) => id > this.followed) ?? ids[0];
    this.follow(next);
  }

  unfollow() { this.follow(0); }

  escape() {
    if (this.details.open) this.details.close();
    else this.unfollow();
  }

  clear() {
    this.timeline.reset();
    this.log.reset();
    this.layers.reset();
    this.tcp.reset();
    this.poller.reset();
    this.summarized = 0;
    this.playback.skipped = 0;
  }

  resetViews() {
    this.clear();
    this.fdtable.reset();
    this.queue.reset();
    this.details.close();
  }

  download() {
    if (this.offline) return;
    const a = document.createElement('a');
    a.href = '/api/v1/trace';
    a.download = '';
    document.body.append(a);
    a.click();
    a.remove();
  }

  async loadTraceFile(file) {
    if (file.size > MAX_TRACE_BYTES) {
      this.toast(t('err.trace', { msg: `${file.name}: > 64 MiB` }));
      return;
    }
    let text;
    try {
      text = await file.text();
    } catch (e) {
      this.toast(t('err.trace', { msg: e.message }));
      return;
    }
    this.replayText(text, file.name);
  }

  /**
   * replayText replays a trace in the page, with the stream stopped: the
   * model starts empty and the events play through the same queue as live
   * ones, at the chosen speed.
   */
  replayText(text, name = 'trace') {
    const tr = parseTrace(text);
    if (!tr.events.length) {
      this.toast(t('err.trace', { msg: tr.bad ? t('note.bad', { n: tr.bad }) : 'no events' }));
      return false;
    }
    this.stream.stop();
    this.offline = true;
    this.offlineName = name;
    this.playback.clear();
    this.model.reset();
    this.model.engine = tr.header?.engine ?? tr.header?.addr ?? '';
    this.resetViews();
    this.follow(0);
    this.scenarios.setOffline(true);
    setText($('#engine-addr'), this.model.engine ? `trace of ${this.model.engine}` : '');
    this.clock = new Clock();
    this.clock.running = false;
    this.playback.push(tr.events, performance.now());
    let note = t('note.trace', { n: tr.events.length });
    if (tr.bad) note += ' · ' + t('note.bad', { n: tr.bad });
    this.toast(note, 'info');
    return true;
  }

  backToLive() {
    if (!this.offline) return;
    this.offline = false;
    this.playback.clear();
    this.model.reset();
    this.resetViews();
    this.clock = new Clock();
    this.scenarios.setOffline(false);
    this.stream.forget();
    this.stream.start();
  }

  toggleTheme() {
    const el = document.documentElement;
    el.dataset.theme = el.dataset.theme === 'light' ? 'dark' : 'light';
    safeSet('sockscope.theme', el.dataset.theme);
  }

  togglePresenter() {
    this.presenter = !this.presenter;
    document.documentElement.classList.toggle('presenter', this.presenter);
    safeSet('sockscope.presenter', this.presenter ? '1' : '0');
  }

  toggleLang() {
    setLang(lang() === 'ja' ? 'en' : 'ja');
    safeSet('sockscope.lang', lang());
    applyI18n(document);
    for (const v of [...this.views, this.details, this.scenarios, this.controls]) v.setLang();
    if (this.hello?.engine) this.layers.setHint(t('layers.try', { cmd: `curl -v http://${this.hello.engine}/hello` }));
  }

  toast(msg, kind = 'error') {
    const el = $('#toast');
    setText(el, msg);
    el.className = `toast ${kind}`;
    el.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => { el.hidden = true; }, 6000);
    if (kind === 'error') this.errors.push(msg);
  }
}

function safeGet(k) {
  try { return localStorage.getItem(k); } catch { return null; }
}

function safeSet(k, v) {
  try { localStorage.setItem(k, v); } catch { /* private mode: not remembered */ }
}

const app = new App();

// A handle for the browser tests and for presenters poking at the page in
// the devtools console: read-only views of what the page drew.
window.sockscope = {
  app,
  model: app.model,
  playback: app.playback,
  /** saw reports whether the layer diagram drew layer:op for a connection. */
  saw: (conn, layerOp) => app.layers.saw(conn, layerOp),
  /** states lists the TCP diagram boxes a connection was lit in. */
  states: (conn) => app.tcp.states(conn),
  /** replay replays trace text as if loaded from a file. */
  replay: (text, name) => app.replayText(text, name),
  status: () => app.status,
};
