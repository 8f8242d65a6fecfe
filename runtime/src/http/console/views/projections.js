// Projections: each one's status, checkpoint, lag as a number and as a
// small chart of the samples taken while the page is open, and its dead
// letters with their error (`GET /projections`, polled). With admin actions
// on, a rebuild button per projection (`POST /projections/{name}/rebuild`),
// with the replay's progress (checkpoint over head) while it runs. Each
// card opens its read model on request (`GET /projections/{name}`).

import { h, replace, link, time, errorBox, jsonTree } from '../dom.js';
import { get, postAdmin, seg, adminToken, setAdminToken } from '../api.js';
import { sparkline } from '../charts.js';

const POLL_MS = 1000;
const FAST_POLL_MS = 200;
const SAMPLES = 60;

// Lag samples survive switching views (kept for the page's lifetime).
const history = new Map();

export async function render(main, route, ctx) {
  const admin = ctx.config.admin !== 'off';
  main.append(h('h1', { text: 'Projections' }));
  if (ctx.config.admin === 'bearer') {
    const field = h('input', { type: 'password', id: 'admin-token', placeholder: 'admin token', value: adminToken(), autocomplete: 'off' });
    field.addEventListener('change', () => setAdminToken(field.value.trim()));
    main.append(h('div', { class: 'toolbar' }, h('label', { for: 'admin-token', text: 'Admin token ' }), field,
      h('span', { class: 'muted', text: ' sent as a bearer token with rebuilds; kept for this tab only' })));
  }
  const box = h('div', { id: 'projections' });
  const errors = h('div');
  main.append(errors, box);
  const cards = new Map();
  const rebuilding = new Set();
  let stopped = false;
  let timer = null;

  const draw = (p) => {
    let card = cards.get(p.name);
    if (!card) {
      card = makeCard(p.name);
      cards.set(p.name, card);
      box.appendChild(card.el);
    }
    const samples = history.get(p.name) || [];
    samples.push(p.lag);
    while (samples.length > SAMPLES) samples.shift();
    history.set(p.name, samples);
    const status = rebuilding.has(p.name) && p.status !== 'rebuilding' ? 'rebuilding' : p.status;
    card.status.textContent = status;
    card.status.className = 'badge ' + ({ live: 'badge-ok', failed: 'badge-bad', rebuilding: 'badge-warn', 'catching-up': 'badge-warn' }[status] || 'badge-muted');
    card.checkpoint.textContent = String(p.checkpoint);
    card.head.textContent = String(p.headPosition);
    card.lag.textContent = String(p.lag);
    card.lag.className = 'big lag ' + (p.lag === 0 ? 'ok' : 'behind');
    replace(card.chart, sparkline(samples, { title: `lag of ${p.name}, last ${samples.length} samples` }));
    replace(card.error, p.error ? errorBox({ title: 'Failed', detail: p.error }) : null);
    card.progress.hidden = !rebuilding.has(p.name);
    if (rebuilding.has(p.name)) {
      const done = p.headPosition ? Math.min(1, p.checkpoint / p.headPosition) : 1;
      card.bar.value = Math.round(done * 100);
      card.progressText.textContent = `${p.checkpoint} / ${p.headPosition} events`;
    }
    card.dlCount.textContent = String(p.deadLetterCount);
    card.dlCount.className = 'dl-count' + (p.deadLetterCount ? ' bad' : '');
    replace(card.deadLetters, p.deadLetters.length === 0
      ? h('p', { class: 'muted', text: 'No dead letters.' })
      : h('table', { class: 'grid dead-letters' },
        h('thead', {}, h('tr', {}, ['Position', 'Stream', 'Version', 'Type', 'Error', 'Parked'].map((t) => h('th', { text: t })))),
        h('tbody', {}, p.deadLetters.map((d) => h('tr', {},
          h('td', { class: 'num', text: String(d.position) }),
          h('td', {}, streamLink(d.streamId, d.version, ctx)),
          h('td', { class: 'num', text: String(d.version) }),
          h('td', { text: d.eventType }),
          h('td', { class: 'dl-error', text: d.error }),
          h('td', {}, time(d.parkedAt)))))));
  };

  const makeCard = (name) => {
    const el = h('section', { class: 'panel projection', 'data-projection': name });
    const c = {
      el,
      status: h('span', { class: 'badge' }),
      checkpoint: h('span', { class: 'checkpoint' }),
      head: h('span', { class: 'head' }),
      lag: h('span', { class: 'big lag' }),
      chart: h('div', { class: 'lag-chart' }),
      error: h('div'),
      bar: h('progress', { max: 100, value: 0 }),
      progressText: h('span', { class: 'muted' }),
      dlCount: h('span', { class: 'dl-count' }),
      deadLetters: h('div', { class: 'dead-list' }),
      result: h('span', { class: 'muted rebuild-result' }),
    };
    c.progress = h('div', { class: 'progress', hidden: true }, 'Rebuilding… ', c.bar, ' ', c.progressText);
    const button = admin
      ? h('button', { type: 'button', class: 'rebuild', onclick: () => rebuild(name, button, c) }, 'Rebuild')
      : null;
    el.append(
      h('header', {}, h('h2', { text: name }), c.status, button, c.result),
      h('div', { class: 'metrics' },
        h('div', {}, h('div', { class: 'muted', text: 'Lag (events)' }), c.lag),
        h('div', {}, h('div', { class: 'muted', text: 'Lag over time' }), c.chart),
        h('div', {}, h('div', { class: 'muted', text: 'Checkpoint' }), c.checkpoint, h('span', { class: 'muted', text: ' of ' }), c.head),
        h('div', {}, h('div', { class: 'muted', text: 'Dead letters' }), c.dlCount)),
      c.progress, c.error,
      h('div', { class: 'card-details' },
        h('details', { class: 'dl dead' }, h('summary', { text: 'Dead letters' }), c.deadLetters),
        readModel(name)));
    return c;
  };

  const poll = async () => {
    if (stopped) return;
    // A hidden tab asks nothing (unless a rebuild is being watched).
    if (document.hidden && rebuilding.size === 0) {
      timer = setTimeout(poll, POLL_MS);
      return;
    }
    try {
      const { projections } = await get('projections');
      if (stopped) return;
      replace(errors);
      if (projections.length === 0 && cards.size === 0) {
        replace(box, h('p', { class: 'muted', text: 'The service runs no projections.' }));
      }
      projections.forEach(draw);
    } catch (e) {
      replace(errors, errorBox(e));
    }
    if (!stopped) timer = setTimeout(poll, rebuilding.size ? FAST_POLL_MS : POLL_MS);
  };

  const rebuild = async (name, button, c) => {
    button.disabled = true;
    rebuilding.add(name);
    c.result.textContent = '';
    c.result.classList.remove('error-text');
    c.progress.hidden = false;
    clearTimeout(timer);
    poll();
    try {
      const report = await postAdmin(`projections/${seg(name)}/rebuild`);
      c.result.textContent = `rebuilt: ${report.events} events replayed in ${report.millis} ms` +
        (report.parked ? `, ${report.parked} parked` : '');
    } catch (e) {
      c.result.textContent = `rebuild failed: ${e.title}${e.detail ? ': ' + e.detail : ''}`;
      c.result.classList.add('error-text');
    } finally {
      rebuilding.delete(name);
      button.disabled = false;
      clearTimeout(timer);
      poll();
    }
  };

  await poll();
  return () => { stopped = true; clearTimeout(timer); };
}

/** The read model (`GET /projections/{name}`, its `data`), fetched when opened. */
function readModel(name) {
  const body = h('div', { class: 'read-model' });
  const details = h('details', { class: 'dl model' }, h('summary', { text: 'Read model' }), body);
  details.addEventListener('toggle', async () => {
    if (!details.open) return;
    replace(body, h('p', { class: 'muted', text: 'Loading…' }));
    try {
      const p = await get(`projections/${seg(name)}`);
      replace(body,
        h('p', { class: 'muted', text: `as of checkpoint ${p.checkpoint}` }),
        p.hasReadModel ? jsonTree(p.data) : h('p', { class: 'muted', text: 'This projection serves no read model.' }));
    } catch (e) {
      replace(body, errorBox(e));
    }
  });
  return details;
}

function streamLink(streamId, version, ctx) {
  const dash = String(streamId).indexOf('-');
  if (dash > 0) {
    return link(ctx.routeHash('stream', [streamId.slice(0, dash), streamId.slice(dash + 1)], { v: version }), streamId);
  }
  return h('span', { text: streamId });
}
