// The console's shell: loads its settings, draws the navigation and routes
// `#/view/...` hashes to the views. Each view draws into the main element and
// returns a function that stops whatever it started (timers, event sources).

import { h, replace, errorBox } from './dom.js';
import { get } from './api.js';
import * as streams from './views/streams.js';
import * as stream from './views/stream.js';
import * as live from './views/live.js';
import * as projections from './views/projections.js';
import * as stats from './views/stats.js';
import * as related from './views/related.js';

const ROUTES = [
  { name: 'streams', label: 'Streams', view: streams, nav: true },
  { name: 'stream', view: stream },
  { name: 'live', label: 'Live tail', view: live, nav: true },
  { name: 'projections', label: 'Projections', view: projections, nav: true },
  { name: 'stats', label: 'Statistics', view: stats, nav: true },
  { name: 'related', view: related },
];

/** `#/stream/BankAccount/acc-1?v=2` -> { name, parts, params }. */
export function parseHash(hash) {
  const raw = (hash || '').replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = Object.fromEntries(new URLSearchParams(query));
  return { name: parts[0] || 'streams', parts: parts.slice(1), params };
}

/** The hash of a route (segments encoded, empty parameters left out). */
export function routeHash(name, parts = [], params = {}) {
  const path = [name, ...parts].map(encodeURIComponent).join('/');
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  const qs = q.toString();
  return '/' + path + (qs ? '?' + qs : '');
}

// Script errors and policy violations, kept where the browser tests (and
// anyone in the devtools) can read them.
window.__consoleErrors = [];
const noteError = (text) => window.__consoleErrors.push(String(text));
window.addEventListener('error', (e) => noteError(e.message));
window.addEventListener('unhandledrejection', (e) => noteError(e.reason && e.reason.message ? e.reason.message : e.reason));
document.addEventListener('securitypolicyviolation', (e) => noteError(`CSP: ${e.violatedDirective} ${e.blockedURI}`));

const state = { config: { admin: 'off', aggregates: [], title: 'eventfold' }, stop: null };

async function start() {
  const main = document.getElementById('main');
  try {
    state.config = await get('console/config.json');
  } catch (e) {
    replace(main, errorBox(e));
  }
  document.title = `${state.config.title} · console`;
  const title = document.getElementById('title');
  if (title) title.textContent = state.config.title;
  const badge = document.getElementById('mode');
  if (badge) {
    badge.textContent = state.config.admin === 'off' ? 'read-only' : 'admin actions on';
    badge.className = 'badge ' + (state.config.admin === 'off' ? 'badge-muted' : 'badge-warn');
  }
  window.addEventListener('hashchange', show);
  show();
}

function drawNav(active) {
  const nav = document.getElementById('nav');
  replace(nav, ROUTES.filter((r) => r.nav).map((r) => h('a', {
    href: '#/' + r.name,
    class: r.name === active || (active === 'stream' && r.name === 'streams') ? 'active' : '',
    'data-view': r.name,
  }, r.label)));
}

async function show() {
  if (state.stop) { try { state.stop(); } catch { /* already stopped */ } state.stop = null; }
  const route = parseHash(location.hash);
  const entry = ROUTES.find((r) => r.name === route.name) || ROUTES[0];
  drawNav(entry.name);
  const main = document.getElementById('main');
  replace(main);
  main.dataset.view = entry.name;
  const ctx = { config: state.config, routeHash };
  try {
    const stop = await entry.view.render(main, route, ctx);
    // A later navigation may already have replaced this view.
    if (parseHash(location.hash).name === route.name && main.dataset.view === entry.name) {
      state.stop = typeof stop === 'function' ? stop : null;
    } else if (typeof stop === 'function') {
      stop();
    }
  } catch (e) {
    main.appendChild(errorBox(e));
  }
}

start();
