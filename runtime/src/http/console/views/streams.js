// Streams: a searchable, paged list by aggregate type and id prefix, with
// each stream's version and the time of its last event
// (`GET /streams?type=&prefix=&after=&limit=`).

import { h, replace, link, time, errorBox } from '../dom.js';
import { get } from '../api.js';

const PAGE = 25;

export async function render(main, route, ctx) {
  const params = route.params;
  const type = params.type || '';
  const prefix = params.q || '';
  // `after` cursors of the pages before this one, for "Previous".
  const trail = params.trail ? params.trail.split(',').filter(Boolean) : [];
  const after = params.after || '';

  const typeSelect = h('select', { id: 'stream-type', 'aria-label': 'Aggregate type' },
    h('option', { value: '' }, 'All types'),
    (ctx.config.aggregates || []).map((a) => h('option', { value: a }, a)));
  typeSelect.value = type;
  const search = h('input', {
    id: 'stream-search', type: 'search', placeholder: type ? 'id starts with…' : 'stream id starts with…',
    value: prefix, 'aria-label': 'Search streams', autocomplete: 'off',
  });
  const go = (extra = {}) => {
    location.hash = ctx.routeHash('streams', [], { type: typeSelect.value, q: search.value.trim(), ...extra });
  };
  const form = h('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); go(); } },
    typeSelect, search, h('button', { type: 'submit' }, 'Search'));
  typeSelect.addEventListener('change', () => go());

  const table = h('table', { class: 'grid', id: 'streams-table' },
    h('thead', {}, h('tr', {},
      h('th', { text: 'Aggregate type' }), h('th', { text: 'Id' }),
      h('th', { class: 'num', text: 'Version' }), h('th', { text: 'Last event' }))));
  const body = h('tbody');
  table.appendChild(body);
  const pager = h('div', { class: 'pager' });
  main.append(h('h1', { text: 'Streams' }), form, table, pager);

  let page;
  try {
    page = await get('streams', { type, prefix, after, limit: PAGE });
  } catch (e) {
    replace(body);
    main.insertBefore(errorBox(e), table);
    return;
  }
  if (page.streams.length === 0) {
    body.appendChild(h('tr', {}, h('td', { colspan: 4, class: 'muted', text: 'No streams match.' })));
  }
  for (const s of page.streams) {
    const hasType = s.aggregateType && s.aggregateId;
    body.appendChild(h('tr', { 'data-stream': s.streamId },
      h('td', {}, h('span', { class: 'tag', text: s.aggregateType || '—' })),
      h('td', {}, hasType
        ? link(ctx.routeHash('stream', [s.aggregateType, s.aggregateId]), s.aggregateId, { class: 'stream-link' })
        : h('span', { text: s.streamId })),
      h('td', { class: 'num', text: String(s.version) }),
      h('td', {}, time(s.lastEventAt), s.deleted ? h('span', { class: 'badge badge-warn', text: 'deleted' }) : null)));
  }
  const base = { type, q: prefix };
  replace(pager,
    trail.length || after
      ? h('a', {
        class: 'button', id: 'prev-page',
        href: '#' + ctx.routeHash('streams', [], { ...base, after: trail[trail.length - 1] || '', trail: trail.slice(0, -1).join(',') }),
      }, '← Previous')
      : h('span', { class: 'button disabled', text: '← Previous' }),
    h('span', { class: 'muted', text: ` page ${trail.length + (after ? 2 : 1)} ` }),
    page.next
      ? h('a', {
        class: 'button', id: 'next-page',
        href: '#' + ctx.routeHash('streams', [], { ...base, after: page.next, trail: after ? [...trail, after].join(',') : '' }),
      }, 'Next →')
      : h('span', { class: 'button disabled', text: 'Next →' }));
  return undefined;
}
