// stream.js — the live connection to the server: the WebSocket stream with
// reconnects (backoff 250 ms doubling to 5 s), a fresh snapshot on every
// (re)connect, and catch-up through /api/v1/events?since= for whatever
// happened while the page was away or lost in a gap.

const API = '/api/v1';
const BACKOFF_MIN = 250;
const BACKOFF_MAX = 5000;
const FILL_MAX = 2000; // largest gap filled from /events; beyond, resync

/** nextBackoff doubles a reconnect delay up to the cap. Pure. */
export function nextBackoff(ms) {
  return Math.min(BACKOFF_MAX, Math.max(BACKOFF_MIN, ms * 2));
}

/**
 * splitBySeq separates a batch into events already covered by a snapshot
 * at seq (history: shown in the logs, not applied again) and new ones. Pure.
 */
export function splitBySeq(events, seq) {
  const old = [];
  const fresh = [];
  for (const ev of events) (ev.seq <= seq ? old : fresh).push(ev);
  return { old, fresh };
}

/** Stream keeps the page connected. Handlers are called in order, never concurrently. */
export class Stream {
  /**
   * @param {object} h handlers
   * @param {(hello:object)=>void} h.onHello
   * @param {(snap:object, history:object[])=>void} h.onSnapshot state rebuilt;
   *   history: events missed since the last one delivered (already in the snapshot)
   * @param {(events:object[], meta:{dropped:number, summary:object})=>void} h.onEvents
   * @param {(c:object)=>void} h.onControl
   * @param {(m:object)=>void} h.onScenario
   * @param {(status:string, detail?:object)=>void} h.onStatus
   */
  constructor(h) {
    this.h = h;
    this.ws = null;
    this.backoff = 0;
    this.timer = 0;
    this.stopped = true;
    this.lastSeq = 0; // the last event seq handed to the page
    this.lastT = 0; // the server clock (Event.t) last seen, to notice a restart
    this.gen = 0; // connection generation: late replies of an old socket are ignored
    this.queue = Promise.resolve();
    this.resyncAt = 0;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** stop closes the stream (offline replay of a file). */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.gen++;
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close();
      this.ws = null;
    }
    this.h.onStatus?.('stopped');
  }

  /** forget makes the next connect rebuild without history (after a clear or a replay). */
  forget() {
    this.lastSeq = 0;
    this.lastT = 0;
  }

  connect() {
    const gen = ++this.gen;
    this.h.onStatus?.('connecting');
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(`${proto}//${location.host}${API}/stream`);
    } catch (e) {
      this.retry(gen);
      return;
    }
    this.ws = ws;
    let ready = false; // snapshot applied
    const early = []; // messages that came before the snapshot did
    ws.onmessage = (m) => {
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch {
        return;
      }
      if (msg.type === 'hello') {
        this.h.onHello?.(msg);
        this.serial(async () => {
          try {
            await this.rebuild(gen, msg);
          } catch (e) {
            // No snapshot, no stream: drop the socket and try again later.
            console.warn('sockscope: snapshot:', e);
            ws.close();
            return;
          }
          while (early.length) await this.dispatch(early.shift());
          ready = true;
        });
        return;
      }
      if (!ready) {
        if (early.length < 10000) early.push(msg);
        return;
      }
      this.serial(() => this.dispatch(msg));
    };
    ws.onclose = () => {
      if (gen !== this.gen) return;
      this.ws = null;
      this.retry(gen);
    };
    ws.onerror = () => {}; // onclose follows and retries
  }

  retry(gen) {
    if (this.stopped || gen !== this.gen) return;
    this.backoff = this.backoff ? nextBackoff(this.backoff) : BACKOFF_MIN;
    this.h.onStatus?.('reconnecting', { ms: this.backoff, at: performance.now() + this.backoff });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.backoff);
  }

  /** serial runs f after every earlier message was handled: events stay in order. */
  serial(f) {
    this.queue = this.queue.then(f).catch((e) => console.warn('sockscope: stream:', e));
  }

  async rebuild(gen, hello) {
    // The hello may carry the snapshot taken right after subscribing (no
    // event falls between them); otherwise ask for one.
    const snap = hello?.snapshot ?? await getJSON(`${API}/snapshot`);
    if (gen !== this.gen) return;
    // A snapshot older than what we saw: the server restarted, seqs start
    // over; its story so far is all history.
    // (Or a clock that went back: seqs of two short runs can look alike.)
    const restarted = (snap.seq ?? 0) < this.lastSeq || (snap.t ?? 0) < this.lastT;
    if (restarted) this.lastSeq = 0;
    this.lastT = snap.t ?? 0;
    let history = [];
    if ((this.lastSeq > 0 || restarted) && this.lastSeq < snap.seq) {
      history = await this.fetchEvents(this.lastSeq, snap.seq);
      if (gen !== this.gen) return;
    }
    this.lastSeq = Math.max(this.lastSeq, snap.seq ?? 0);
    this.h.onSnapshot?.(snap, history);
    this.backoff = 0;
    this.h.onStatus?.(snap.replay ? 'replay' : 'live');
  }

  /** fetchEvents returns events with since < seq ≤ until, as far as the ring still has them. */
  async fetchEvents(since, until) {
    const out = [];
    let from = since;
    for (let i = 0; i < 10 && from < until; i++) {
      const evs = await getJSON(`${API}/events?since=${from}&limit=${Math.min(10000, until - from)}`);
      const list = Array.isArray(evs) ? evs : evs?.events ?? [];
      if (!list.length) break;
      for (const ev of list) if (ev.seq > from && ev.seq <= until) out.push(ev);
      from = list[list.length - 1].seq;
    }
    return out;
  }

  async dispatch(msg) {
    switch (msg.type) {
      case 'batch': {
        let events = msg.events ?? [];
        const { old, fresh } = splitBySeq(events, this.lastSeq);
        events = fresh;
        const meta = { dropped: msg.dropped ?? 0, summary: msg.summary ?? null, gap: 0 };
        if (events.length && events[0].seq > this.lastSeq + 1) {
          const gap = events[0].seq - this.lastSeq - 1;
          const summarized = (msg.summary?.count ?? 0) > 0;
          if (gap <= FILL_MAX && !summarized) {
            const gen = this.gen;
            const fill = await this.fetchEvents(this.lastSeq, events[0].seq - 1);
            if (gen !== this.gen) return;
            events = fill.concat(events);
          } else {
            meta.gap = gap;
          }
        }
        if (events.length) {
          this.lastSeq = events[events.length - 1].seq;
          this.lastT = Math.max(this.lastT, events[events.length - 1].t ?? 0);
        }
        void old;
        this.h.onEvents?.(events, meta);
        if (meta.gap) this.maybeResync();
        break;
      }
      case 'control':
        this.h.onControl?.(msg);
        break;
      case 'scenario':
        this.h.onScenario?.(msg);
        break;
    }
  }

  /**
   * maybeResync rebuilds from a snapshot after events were lost (the page
   * fell behind a load test), at most every two seconds.
   */
  maybeResync() {
    const now = performance.now();
    if (now - this.resyncAt < 2000) return;
    this.resyncAt = now;
    const gen = this.gen;
    this.serial(async () => {
      const snap = await getJSON(`${API}/snapshot`);
      if (gen !== this.gen) return;
      if ((snap.seq ?? 0) > this.lastSeq) this.lastSeq = snap.seq;
      this.h.onSnapshot?.(snap, [], { resync: true });
    });
  }
}

/** getJSON fetches a same-origin JSON resource, failing on any non-2xx status. */
export async function getJSON(url) {
  const r = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}

/** postJSON posts a JSON body and returns the JSON answer (or throws with the server's error). */
export async function postJSON(url, body) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  let data = null;
  try {
    data = await r.json();
  } catch {
    data = null;
  }
  if (!r.ok) throw new Error(data?.error ?? `${r.status}`);
  return data;
}
