// Related events: those whose event id, correlation id or causation id is
// the id asked for (a correlation or causation id clicked in a stream). The
// service has no index by correlation id, so this view pages through
// `GET /events` from the newest event back, up to a bound, and says how far
// it looked.

import { h, replace, link, time, errorBox } from '../dom.js';
import { get } from '../api.js';

const PAGE = 1000;
const MAX_SCANNED = 20000;

export async function render(main, route, ctx) {
  const id = route.params.id || '';
  main.append(h('h1', {}, 'Events related to ', h('code', { class: 'id', id: 'related-id', text: id })));
  const status = h('p', { class: 'muted', id: 'related-status', text: 'Searching…' });
  const table = h('table', { class: 'grid', id: 'related-table' },
    h('thead', {}, h('tr', {},
      h('th', { class: 'num', text: 'Position' }), h('th', { text: 'Stream' }), h('th', { class: 'num', text: 'Version' }),
      h('th', { text: 'Type' }), h('th', { text: 'Relation' }), h('th', { text: 'Time' }))));
  const body = h('tbody');
  table.appendChild(body);
  main.append(status, table);
  let stopped = false;
  (async () => {
    try {
      const first = await get('events', { limit: 1 });
      const head = first.head || 0;
      let to = head;
      let scanned = 0;
      let found = 0;
      while (!stopped && to >= 1 && scanned < MAX_SCANNED) {
        const from = Math.max(1, to - PAGE + 1);
        const page = await get('events', { from, limit: to - from + 1 });
        const rows = page.events.slice().reverse();
        for (const e of rows) {
          const m = e.metadata || {};
          const relations = [];
          if (e.id === id) relations.push('is this event');
          if (m.correlationId === id) relations.push('same correlation');
          if (m.causationId === id) relations.push('caused by it');
          if (!relations.length) continue;
          found += 1;
          body.appendChild(h('tr', { 'data-event': e.id },
            h('td', { class: 'num', text: String(e.position) }),
            h('td', {}, e.aggregateId
              ? link(ctx.routeHash('stream', [e.aggregateType, e.aggregateId], { v: e.version }), e.streamId)
              : h('span', { text: e.streamId })),
            h('td', { class: 'num', text: String(e.version) }),
            h('td', { text: e.eventType }),
            h('td', { text: relations.join(', ') }),
            h('td', {}, time(e.recordedAt))));
        }
        scanned += page.events.length;
        to = from - 1;
        status.textContent = `${found} found in the newest ${scanned} of ${head} events` +
          (to >= 1 && scanned >= MAX_SCANNED ? ` (stopped at ${MAX_SCANNED})` : '') + (to >= 1 && scanned < MAX_SCANNED ? '…' : '.');
      }
      if (head === 0) status.textContent = 'The store holds no events.';
    } catch (e) {
      if (!stopped) replace(status, errorBox(e));
    }
  })();
  return () => { stopped = true; };
}
