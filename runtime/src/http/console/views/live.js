// Live tail of every event (`GET /events/live`, Server-Sent Events): starts
// with the latest few events for context, then shows each new event as it
// is committed. Pausable (new events wait, counted, until resumed) and
// filterable by event type. The browser's EventSource resumes after a
// dropped connection with Last-Event-ID, so nothing is missed or doubled.

import { h, replace, link, time } from '../dom.js';
import { get, url } from '../api.js';

const CONTEXT = 10;
const MAX_ROWS = 500;
const MAX_WAITING = 5000;

export async function render(main, route, ctx) {
  const typeFilter = h('select', { id: 'live-type', 'aria-label': 'Event type' }, h('option', { value: '' }, 'All event types'));
  const pause = h('button', { type: 'button', id: 'live-pause' }, 'Pause');
  const clear = h('button', { type: 'button', id: 'live-clear' }, 'Clear');
  const conn = h('span', { id: 'live-status', class: 'badge badge-muted', text: 'connecting' });
  const waiting = h('span', { id: 'live-waiting', class: 'muted' });
  const counter = h('span', { id: 'live-count', class: 'muted' });
  const table = h('table', { class: 'grid live', id: 'live-table' },
    h('thead', {}, h('tr', {},
      h('th', { class: 'num', text: 'Position' }), h('th', { text: 'Time' }), h('th', { text: 'Stream' }),
      h('th', { class: 'num', text: 'Version' }), h('th', { text: 'Type' }), h('th', { text: 'Payload' }))));
  const body = h('tbody');
  table.appendChild(body);
  main.append(h('h1', { text: 'Live tail' }),
    h('div', { class: 'toolbar' }, typeFilter, pause, clear, conn, waiting, counter), table);

  const known = new Set();
  const addType = (t) => {
    if (known.has(t)) return;
    known.add(t);
    const options = [...known].sort();
    const current = typeFilter.value;
    replace(typeFilter, h('option', { value: '' }, 'All event types'), options.map((o) => h('option', { value: o }, o)));
    typeFilter.value = current;
  };
  if (route.params.type) addType(route.params.type);
  typeFilter.value = route.params.type || '';

  let head = 0;
  try {
    const stats = await get('stats', { limit: 1 });
    Object.keys(stats.eventsByType || {}).forEach(addType);
    head = stats.headPosition || 0;
  } catch { /* the tail works without the type list */ }
  typeFilter.value = route.params.type || '';

  let paused = false;
  let received = 0;
  const held = [];
  // Rows of the catch-up (the context) are not flashed as new.
  const row = (e) => h('tr', { 'data-position': e.position, 'data-type': e.eventType, 'data-stream': e.streamId, class: e.position > head ? 'arrived' : '' },
    h('td', { class: 'num', text: String(e.position) }),
    h('td', {}, time(e.recordedAt)),
    h('td', {}, e.aggregateId
      ? link(ctx.routeHash('stream', [e.aggregateType, e.aggregateId], { v: e.version }), e.streamId)
      : h('span', { text: e.streamId })),
    h('td', { class: 'num', text: String(e.version) }),
    h('td', {}, h('span', { class: 'etype', text: e.eventType })),
    h('td', {}, h('code', { class: 'payload-inline', text: JSON.stringify(e.data) })));
  const visible = (tr) => !typeFilter.value || tr.dataset.type === typeFilter.value;
  const show = (e) => {
    const tr = row(e);
    tr.hidden = !visible(tr);
    body.insertBefore(tr, body.firstChild);
    while (body.children.length > MAX_ROWS) body.lastChild.remove();
  };
  const updateCounts = () => {
    waiting.textContent = paused ? `${held.length} new event${held.length === 1 ? '' : 's'} waiting` : '';
    counter.textContent = `${received} received`;
  };
  typeFilter.addEventListener('change', () => {
    for (const tr of body.children) tr.hidden = !visible(tr);
    history.replaceState(null, '', '#' + ctx.routeHash('live', [], { type: typeFilter.value }));
  });
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.classList.toggle('active', paused);
    if (!paused) {
      for (const e of held.splice(0)) show(e);
    }
    updateCounts();
  });
  clear.addEventListener('click', () => { replace(body); held.length = 0; updateCounts(); });

  const source = new EventSource(url('events/live', { from: Math.max(1, head - CONTEXT + 1) }));
  source.onopen = () => { conn.textContent = 'live'; conn.className = 'badge badge-ok'; };
  source.onerror = () => {
    conn.textContent = source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting';
    conn.className = 'badge badge-warn';
  };
  source.onmessage = (msg) => {
    let e;
    try { e = JSON.parse(msg.data); } catch { return; }
    received += 1;
    addType(e.eventType);
    if (paused) {
      held.push(e);
      if (held.length > MAX_WAITING) held.shift();
    } else {
      show(e);
    }
    updateCounts();
  };
  source.addEventListener('error', (msg) => {
    // The service's own `error` event (a store failure): it ends the stream;
    // the EventSource reconnects from the last id.
    if (msg.data) { conn.textContent = 'store error, reconnecting'; conn.className = 'badge badge-warn'; }
  });
  updateCounts();
  return () => source.close();
}
