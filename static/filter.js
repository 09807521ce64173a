// filter.js — which events a view shows: by connection, fd and layer (the
// syscall log's filters), and "follow one connection". Pure, no DOM.

/**
 * parseFilter reads the filter inputs: conn and fd as numbers (blank: any),
 * layers as a set (empty: all), and free text matched against the line.
 */
export function parseFilter({ conn = '', fd = '', layers = [], text = '' } = {}) {
  const num = (v) => {
    const s = String(v ?? '').trim();
    if (s === '') return null;
    const n = Number(s.replace(/^(conn|c|fd)\s*/i, ''));
    return Number.isInteger(n) ? n : NaN;
  };
  return {
    conn: num(conn),
    fd: num(fd),
    layers: new Set(layers),
    text: String(text ?? '').trim().toLowerCase(),
  };
}

/**
 * matches says whether an event passes a parsed filter. line is the text the
 * view shows for it (for the free-text match). An unparseable number
 * matches nothing, so a typo shows an empty log rather than everything.
 */
export function matches(ev, f, line = '') {
  if (f.conn !== null && ev.conn !== f.conn) return false;
  if (f.fd !== null && ev.fd !== f.fd) return false;
  if (f.layers.size && !f.layers.has(ev.layer)) return false;
  if (f.text && !line.toLowerCase().includes(f.text)) return false;
  return true;
}

/** isEmpty says whether a parsed filter lets everything through. */
export function isEmpty(f) {
  return f.conn === null && f.fd === null && f.layers.size === 0 && !f.text;
}

/**
 * follows says whether an event belongs to the followed connection (0: no
 * one followed). The poller's ready event for the connection's fd carries
 * its conn, so the connection's whole wait chain stays in view.
 */
export function follows(ev, followed) {
  return !followed || ev.conn === followed;
}
