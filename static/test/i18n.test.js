import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { DICT, LANGS, t, setLang, lang } from '../i18n.js';
import { WHY } from '../why.js';
import { BANDS } from '../bands.js';
import { KEYS } from '../controls.js';

const dir = new URL('..', import.meta.url);

test('both languages have exactly the same keys, none empty', () => {
  assert.deepEqual(LANGS.sort(), ['en', 'ja']);
  const en = Object.keys(DICT.en).sort();
  const ja = Object.keys(DICT.ja).sort();
  assert.deepEqual(ja.filter((k) => !DICT.en[k]), [], 'keys only in ja');
  assert.deepEqual(en.filter((k) => !DICT.ja[k]), [], 'keys only in en');
  for (const l of LANGS) for (const [k, v] of Object.entries(DICT[l])) assert.ok(v.trim(), `${l} ${k} is empty`);
});

test('placeholders match between languages', () => {
  const ph = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(',');
  for (const k of Object.keys(DICT.en)) assert.equal(ph(DICT.ja[k]), ph(DICT.en[k]), k);
});

test('the layer names are the seeds\' own', () => {
  const want = {
    app: 'アプリケーション層', http: 'HTTPプロトコル層', tcp: 'TCP接続管理層',
    fd: 'ファイルディスクリプタ管理層', poller: 'ネットワークポーリング層', syscall: 'OSシステムコール層',
  };
  for (const b of BANDS) {
    assert.equal(DICT.ja[`layer.${b.id}`], want[b.id]);
    assert.ok(DICT.en[`layer.${b.id}`]);
  }
  // and seed 000 really spells them so, when the seeds are beside the repo
  let seed = '';
  try {
    const sd = new URL('../../../shared/seeds/', import.meta.url);
    const f = readdirSync(sd).find((n) => n.startsWith('000'));
    seed = readFileSync(new URL(f, sd), 'utf8');
  } catch { /* seeds not present: the table above stands */ }
  if (seed) for (const name of Object.values(want)) assert.ok(seed.includes(name), name);
});

test('every key the page uses exists', () => {
  const used = new Set();
  for (const f of readdirSync(dir)) {
    if (!/\.(js|html)$/.test(f)) continue;
    const src = readFileSync(new URL(f, dir), 'utf8');
    for (const m of src.matchAll(/\bt\('([a-z0-9_.]+)'/g)) used.add(m[1]);
    for (const m of src.matchAll(/data-i18n(?:-title|-aria)?="([a-z0-9_.]+)"/g)) used.add(m[1]);
  }
  for (const k of KEYS) used.add(k.help);
  for (const l of ['tcp_info', 'sock_diag', 'engine']) used.add(`tcp.src.${l}`);
  for (const k of ['std', 'epoll', 'eventfd', 'listener', 'conn']) used.add(`fd.kind.${k}`);
  for (const k of ['running', 'done', 'failed']) used.add(`sc.${k}`);
  for (const k of used) assert.ok(DICT.en[k] && DICT.ja[k], `missing key ${k}`);
  assert.ok(used.size > 60, `found only ${used.size} keys`);
});

test('t fills placeholders and falls back to English', () => {
  setLang('en');
  assert.equal(t('q.len', { n: 2, max: 128 }), '2 / 128 waiting for accept()');
  setLang('ja');
  assert.equal(lang(), 'ja');
  assert.equal(t('q.len', { n: 2, max: 128 }), 'accept() 待ち 2 / 128');
  assert.equal(t('no.such.key'), 'no.such.key');
  setLang('xx');
  assert.equal(lang(), 'ja');
  setLang('en');
});

test('every op of docs/EVENTS.md has a why in both languages', () => {
  const ops = {
    syscall: ['socket', 'setsockopt', 'bind', 'listen', 'epoll_create1', 'eventfd2', 'epoll_ctl', 'epoll_wait', 'accept4', 'read', 'write', 'writev', 'shutdown', 'close', 'getsockopt'],
    poller: ['wait', 'ready', 'stale'],
    fd: ['park', 'wake', 'timeout'],
    tcp: ['listen', 'accept', 'state', 'queue', 'close', 'backoff'],
    http: ['request', 'continue', 'response', 'error', 'idle', 'drain', 'close'],
    app: ['handler_start', 'handler_end', 'panic'],
  };
  for (const [layer, list] of Object.entries(ops)) {
    for (const op of list) {
      const w = WHY[`${layer}:${op}`];
      assert.ok(w, `${layer}:${op}`);
      assert.ok(w.en.length > 20 && w.ja.length > 10, `${layer}:${op}`);
    }
  }
  for (const [k, w] of Object.entries(WHY)) assert.ok(w.en && w.ja, k);
});

test('the docs list no op the page lacks a why for', () => {
  let doc = '';
  try { doc = readFileSync(new URL('../../docs/EVENTS.md', import.meta.url), 'utf8'); } catch { return; }
  let layer = '';
  for (const line of doc.split('\n')) {
    const h = line.match(/^## (\w+)/);
    if (h) layer = h[1];
    const row = line.match(/^\| `(\w+)` \|/);
    if (row && ['syscall', 'poller', 'fd', 'tcp', 'http', 'app'].includes(layer)) {
      assert.ok(WHY[`${layer}:${row[1]}`], `docs/EVENTS.md ${layer}:${row[1]} has no why`);
    }
  }
});
