// states.js — the TCP state machine of RFC 9293 (§3.3.2, Figure 5) as data:
// state names, where each box sits, and the transitions with their
// event/action labels. Pure, no DOM; tcpstate.js draws it.

/** STATES are the canonical state ids, in RFC 9293's spelling with "_". */
export const STATES = [
  'CLOSED', 'LISTEN', 'SYN_SENT', 'SYN_RECEIVED', 'ESTABLISHED',
  'FIN_WAIT_1', 'FIN_WAIT_2', 'CLOSING', 'TIME_WAIT', 'CLOSE_WAIT', 'LAST_ACK',
];

// The kernel (tcp_states.h, as TCP_INFO and sock_diag report it) and the
// RFC spell some states differently; the engine may use either.
const aliases = {
  SYN_RECV: 'SYN_RECEIVED',
  NEW_SYN_RECV: 'SYN_RECEIVED',
  SYN_RCVD: 'SYN_RECEIVED',
  FIN_WAIT1: 'FIN_WAIT_1',
  FIN_WAIT2: 'FIN_WAIT_2',
  CLOSE: 'CLOSED',
};

/**
 * normState maps any spelling of a TCP state (`FIN_WAIT1`, `fin-wait-1`,
 * `SYN_RECV`, `CLOSE`) to its canonical id, or '' when it is not one.
 */
export function normState(s) {
  if (!s) return '';
  const u = String(s).trim().toUpperCase().replace(/[-\s]/g, '_');
  const c = aliases[u] ?? u;
  return STATES.includes(c) ? c : '';
}

/** stateLabel is how the diagram writes a state: `FIN-WAIT-1`. */
export function stateLabel(id) {
  return id === 'CLOSED_END' ? 'CLOSED' : String(id).replace(/_/g, '-');
}

/**
 * nodeFor picks the diagram box for a state. The RFC's figure draws CLOSED
 * twice: at the top where a socket starts, and at the bottom where a closing
 * one ends (after LAST-ACK or TIME-WAIT). A socket that reaches CLOSED from
 * any other state goes to the bottom one.
 */
export function nodeFor(state, from) {
  const s = normState(state);
  if (s !== 'CLOSED') return s;
  const f = normState(from);
  return f && f !== 'CLOSED' && f !== 'LISTEN' && f !== 'SYN_SENT' ? 'CLOSED_END' : 'CLOSED';
}

/**
 * NODES places each box (centres) in the diagram's 800×370 space. The
 * layout keeps RFC 9293 Figure 5's topology but runs left to right, so it
 * fits a wide panel: opening on top, the passive close (the peer's FIN
 * first: CLOSE-WAIT, LAST-ACK) on the right, the active close (ours first:
 * FIN-WAIT, CLOSING, TIME-WAIT) bottom left.
 */
export const NODES = {
  CLOSED: { x: 100, y: 36 },
  LISTEN: { x: 300, y: 36 },
  SYN_RECEIVED: { x: 500, y: 36 },
  SYN_SENT: { x: 100, y: 132 },
  ESTABLISHED: { x: 500, y: 132 },
  CLOSE_WAIT: { x: 700, y: 132 },
  FIN_WAIT_1: { x: 300, y: 228 },
  CLOSING: { x: 500, y: 228 },
  LAST_ACK: { x: 700, y: 228 },
  FIN_WAIT_2: { x: 100, y: 324 },
  TIME_WAIT: { x: 300, y: 324 },
  CLOSED_END: { x: 700, y: 324 },
};

/** VIEW is the diagram's viewBox size. */
export const VIEW = { w: 800, h: 362 };

/** BOX is the size of a state box. */
export const BOX = { w: 164, h: 46 };

/**
 * EDGES are the transitions of RFC 9293 Figure 5 that a server and its
 * clients go through, with the figure's "event / action" labels.
 */
export const EDGES = [
  { from: 'CLOSED', to: 'LISTEN', label: 'passive OPEN' },
  { from: 'CLOSED', to: 'SYN_SENT', label: 'active OPEN / snd SYN' },
  { from: 'LISTEN', to: 'SYN_RECEIVED', label: 'rcv SYN / snd SYN,ACK' },
  { from: 'SYN_SENT', to: 'ESTABLISHED', label: 'rcv SYN,ACK / snd ACK' },
  { from: 'SYN_RECEIVED', to: 'ESTABLISHED', label: 'rcv ACK of SYN' },
  { from: 'ESTABLISHED', to: 'FIN_WAIT_1', label: 'CLOSE / snd FIN' },
  { from: 'ESTABLISHED', to: 'CLOSE_WAIT', label: 'rcv FIN / snd ACK' },
  { from: 'FIN_WAIT_1', to: 'FIN_WAIT_2', label: 'rcv ACK of FIN' },
  { from: 'FIN_WAIT_1', to: 'CLOSING', label: 'rcv FIN / snd ACK' },
  { from: 'FIN_WAIT_2', to: 'TIME_WAIT', label: 'rcv FIN / snd ACK' },
  { from: 'CLOSING', to: 'TIME_WAIT', label: 'rcv ACK of FIN' },
  { from: 'CLOSE_WAIT', to: 'LAST_ACK', label: 'CLOSE / snd FIN' },
  { from: 'LAST_ACK', to: 'CLOSED_END', label: 'rcv ACK of FIN' },
  { from: 'TIME_WAIT', to: 'CLOSED_END', label: 'timeout = 2MSL' },
];

/** edgeFor finds the figure's edge for a transition, or null (a jump, e.g. RST). */
export function edgeFor(from, to) {
  const a = nodeFor(from, '');
  const b = nodeFor(to, from);
  return EDGES.find((e) => e.from === a && e.to === b) ?? null;
}

/** SOURCES says who reported a state, in the order of trust. */
export const SOURCES = ['tcp_info', 'sock_diag', 'engine'];

/**
 * pathFor finds the figure's shortest way from one state to another (at
 * most maxEdges edges), for a transition whose steps in between were too
 * quick to observe: FIN-WAIT-1 → TIME-WAIT passes FIN-WAIT-2. It returns
 * the edges in order, or null when there is no such way (a jump: RST).
 */
export function pathFor(from, to, maxEdges = 3) {
  const a = nodeFor(from, '');
  const b = nodeFor(to, from);
  if (!a || !b || a === b) return null;
  const prev = new Map([[a, null]]);
  let frontier = [a];
  for (let depth = 0; depth < maxEdges && frontier.length; depth++) {
    const next = [];
    for (const n of frontier) {
      for (const e of EDGES) {
        if (e.from !== n || prev.has(e.to)) continue;
        prev.set(e.to, e);
        next.push(e.to);
      }
    }
    frontier = next;
    if (prev.has(b)) break;
  }
  if (!prev.has(b)) return null;
  const path = [];
  for (let n = b; prev.get(n); n = prev.get(n).from) path.unshift(prev.get(n));
  return path;
}
