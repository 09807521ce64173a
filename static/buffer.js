// buffer.js — the playback queue between the stream and the drawing.
//
// Events arrive in bursts far faster than a person can follow. The queue
// keeps them (bounded) and hands them to the animation loop at the chosen
// pace: "live" plays everything as it comes; slower speeds play a few
// events a second. Pausing stops the playing, never the buffering, so
// nothing is missed; "catch up" jumps back to live. Pure, no DOM: the clock
// is passed in.

/** SPEEDS are the playback speeds, from real time down to slow motion (events per second). */
export const SPEEDS = [
  { id: 'live', rate: Infinity },
  { id: '30', rate: 30 },
  { id: '10', rate: 10 },
  { id: '4', rate: 4 },
  { id: '2', rate: 2 },
  { id: '1', rate: 1 },
  { id: '0.5', rate: 0.5 },
];

/** Playback is a bounded FIFO of events with a pace. */
export class Playback {
  /**
   * @param {object} o
   * @param {number} [o.capacity] most events held; beyond it the oldest are
   *   handed out by takeOverflow (to be applied without animation).
   * @param {number} [o.maxPerFrame] most events one take() returns at live speed.
   */
  constructor({ capacity = 50000, maxPerFrame = 4000 } = {}) {
    this.capacity = capacity;
    this.maxPerFrame = maxPerFrame;
    this.q = []; // events
    this.at = []; // arrival time (ms) of each event
    this.head = 0;
    this.overflow = [];
    this.skipped = 0; // events fast-forwarded because the queue was full
    this.paused = false;
    this.speed = SPEEDS[0];
    this.credit = 1; // events that may play now (slow speeds)
    this.lastTake = -1;
    this.lastPlayed = null; // the last event handed out
    this.lastPushed = null;
  }

  /** length is the number of events waiting to be played. */
  get length() {
    return this.q.length - this.head;
  }

  /** push appends events (in seq order) that arrived at time now (ms). */
  push(events, now = 0) {
    for (const ev of events) {
      this.q.push(ev);
      this.at.push(now);
    }
    if (events.length) this.lastPushed = events[events.length - 1];
    const over = this.length - this.capacity;
    if (over > 0) {
      const out = this.q.slice(this.head, this.head + over);
      this.head += over;
      this.skipped += over;
      for (const ev of out) this.overflow.push(ev);
      this.compact();
    }
  }

  /** takeOverflow returns (and forgets) events pushed out of a full queue, oldest first. */
  takeOverflow() {
    const o = this.overflow;
    this.overflow = [];
    return o;
  }

  /**
   * take returns the events to play at time now (ms): none while paused;
   * everything (up to maxPerFrame) at live speed; otherwise as many as the
   * pace allows since the last call.
   */
  take(now) {
    if (this.lastTake < 0) this.lastTake = now;
    const dt = Math.max(0, now - this.lastTake);
    this.lastTake = now;
    if (this.paused || this.length === 0) {
      // Idle time does not bank a burst: at most one event is due at once
      // (or a frame's worth at fast rates) when playing resumes.
      if (!this.paused && Number.isFinite(this.speed.rate)) this.credit = Math.min(this.creditCap(), this.credit + (dt * this.speed.rate) / 1000);
      return [];
    }
    let n;
    if (!Number.isFinite(this.speed.rate)) {
      n = Math.min(this.length, this.maxPerFrame);
    } else {
      this.credit = Math.min(this.creditCap(), this.credit + (dt * this.speed.rate) / 1000);
      n = Math.min(this.length, Math.floor(this.credit));
      this.credit -= n;
    }
    return this.shift(n);
  }

  /** step returns the next single event regardless of pace or pause (frame-by-frame). */
  step() {
    return this.shift(Math.min(1, this.length));
  }

  /** catchUp returns every waiting event at once: back to live. */
  catchUp() {
    return this.shift(this.length);
  }

  /** clear drops the waiting events without playing them (returned, to be applied silently). */
  clear() {
    return this.catchUp();
  }

  /** dropThrough removes waiting events with seq ≤ seq (already in a snapshot) and returns them. */
  dropThrough(seq) {
    let n = 0;
    while (n < this.length && (this.q[this.head + n].seq ?? 0) <= seq) n++;
    return this.shift(n);
  }

  setSpeed(id) {
    const s = SPEEDS.find((x) => x.id === String(id));
    if (s) {
      this.speed = s;
      this.credit = Math.min(this.credit, this.creditCap());
    }
    return this.speed;
  }

  /** slower / faster move one step along SPEEDS. */
  slower() {
    const i = SPEEDS.indexOf(this.speed);
    return this.setSpeed(SPEEDS[Math.min(SPEEDS.length - 1, i + 1)].id);
  }

  faster() {
    const i = SPEEDS.indexOf(this.speed);
    return this.setSpeed(SPEEDS[Math.max(0, i - 1)].id);
  }

  pause() { this.paused = true; }
  resume() { this.paused = false; }
  toggle() { this.paused = !this.paused; return this.paused; }

  /**
   * behind says how far the drawing is behind live at time now (ms): the
   * number of waiting events, the wall time the oldest has waited, and the
   * engine time between the last played and the last received event.
   */
  behind(now) {
    const count = this.length;
    if (count === 0) return { count: 0, ms: 0, engineNs: 0 };
    const ms = Math.max(0, now - this.at[this.head]);
    const last = this.lastPushed?.t ?? 0;
    const played = this.lastPlayed?.t ?? this.q[this.head].t ?? last;
    return { count, ms, engineNs: Math.max(0, last - played) };
  }

  /** peek returns the next waiting event without taking it, or null. */
  peek() {
    return this.length ? this.q[this.head] : null;
  }

  shift(n) {
    if (n <= 0) return [];
    const out = this.q.slice(this.head, this.head + n);
    this.head += n;
    this.lastPlayed = out[out.length - 1];
    this.compact();
    return out;
  }

  compact() {
    if (this.head > 4096 && this.head * 2 > this.q.length) {
      this.q = this.q.slice(this.head);
      this.at = this.at.slice(this.head);
      this.head = 0;
    }
  }

  creditCap() {
    return Math.max(1, this.speed.rate / 20);
  }
}
