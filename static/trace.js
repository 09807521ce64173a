// trace.js — reading a trace file (GET /api/v1/trace, or sockscope -record)
// for replay in the page: JSON Lines, a header line first, then one event
// per line. Pure, no DOM.

/** MAX_TRACE_EVENTS bounds a loaded trace, so a huge file cannot stall the page. */
export const MAX_TRACE_EVENTS = 500000;

/**
 * parseTrace reads the text of a trace file. It returns the header (the
 * first line when it is not an event), the events in seq order, how many
 * lines could not be read, and how many events the file says are missing
 * (`{"type":"gap","dropped":N}` lines). Lines that are not objects with a layer and an
 * op are counted as bad, not fatal: a trace cut short still replays.
 */
export function parseTrace(text) {
  const lines = String(text ?? '').split('\n');
  let header = null;
  const events = [];
  let bad = 0;
  let truncated = false;
  let gaps = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    let v;
    try {
      v = JSON.parse(line);
    } catch {
      bad++;
      continue;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      bad++;
      continue;
    }
    if (v.type === 'gap') {
      // Events the recorder could not write: the replay skips them, counted.
      gaps += Number(v.dropped) || 0;
      continue;
    }
    if (isEvent(v)) {
      if (events.length >= MAX_TRACE_EVENTS) {
        truncated = true;
        break;
      }
      events.push(v);
    } else if (header === null && events.length === 0) {
      header = v;
    } else {
      bad++;
    }
  }
  events.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  return { header, events, bad, truncated, gaps };
}

/** isEvent says whether a parsed line looks like an event. */
export function isEvent(v) {
  return typeof v.layer === 'string' && typeof v.op === 'string' && ('seq' in v || 't' in v);
}
