// dom.js — the only way this page builds elements. Text goes in through
// textContent and text nodes, never parsed as HTML: request paths, headers and
// bodies are shown as data, and `<script>` in a path stays the characters
// `<script>`.

const SVG = 'http://www.w3.org/2000/svg';

/**
 * h creates an HTML element. attrs sets attributes (class, data-*, aria-*,
 * title …; `text` sets textContent); children are nodes or strings (strings
 * become text nodes).
 */
export function h(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** s creates an SVG element, like h. */
export function s(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG, tag), attrs, children);
}

function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'style') throw new Error('dom: inline styles are refused by the page\'s CSP');
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return el;
}

/** setText replaces an element's text, only when it changed (cheap to call per frame). */
export function setText(el, text) {
  const t = String(text ?? '');
  if (el.textContent !== t) el.textContent = t;
}

/** clear removes all children of el. */
export function clear(el) {
  el.replaceChildren();
}

/** $ finds one element by id or selector. */
export function $(sel, root = document) {
  return sel.startsWith('#') && root === document ? document.getElementById(sel.slice(1)) : root.querySelector(sel);
}

/** flash replays a short highlight on an element (Web Animations, allowed by the CSP). */
export function flash(el, cls = 'flash', ms = 600) {
  el.classList.remove(cls);
  // Reading layout restarts the CSS animation on the same class.
  void el.getBoundingClientRect();
  el.classList.add(cls);
  clearTimeout(el._flashTimer);
  el._flashTimer = setTimeout(() => el.classList.remove(cls), ms);
}
