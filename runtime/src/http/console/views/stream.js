// One stream: its events in order (type, schema version, time, payload and
// metadata, correlation and causation ids leading to the related events),
// and a time slider over versions or times showing the aggregate's state as
// of then (`GET /aggregates/{type}/{id}?version=N` or `?at=TIME`), with what
// changed from the previous version highlighted.

import { h, replace, link, time, errorBox, jsonTree, diffPaths, formatTime } from '../dom.js';
import { get, seg } from '../api.js';

const PAGE = 1000;

export async function render(main, route, ctx) {
  const [type, id] = route.parts;
  if (!type || !id) {
    main.appendChild(errorBox({ title: 'No stream', detail: 'open a stream from the list' }));
    return undefined;
  }
  main.append(h('p', { class: 'crumbs' },
    link(ctx.routeHash('streams', [], { type }), 'Streams'), ' / ',
    link(ctx.routeHash('streams', [], { type }), type), ' / ', h('span', { text: id })));

  let info;
  let page;
  try {
    [info, page] = await Promise.all([
      get(`streams/${seg(type)}/${seg(id)}`),
      get(`events/${seg(type)}/${seg(id)}`, { limit: PAGE }),
    ]);
  } catch (e) {
    main.appendChild(errorBox(e));
    return undefined;
  }
  const events = page.events.slice();
  const version = info.version;

  main.append(h('div', { class: 'stream-head' },
    h('h1', {}, h('span', { class: 'tag', text: type }), ' ', h('span', { id: 'stream-id', text: id })),
    h('dl', { class: 'facts' },
      h('dt', { text: 'Version' }), h('dd', { id: 'stream-version', text: String(version) }),
      h('dt', { text: 'First event' }), h('dd', {}, time(info.firstEventAt)),
      h('dt', { text: 'Last event' }), h('dd', {}, time(info.lastEventAt)),
      h('dt', { text: 'Snapshots' }), h('dd', { text: String((info.snapshots || []).length) }),
      info.deleted ? [h('dt', { text: 'Deleted' }), h('dd', {}, h('span', { class: 'badge badge-warn', text: 'tombstoned' }))] : null)));

  // ---------------------------------------------------------- time travel
  const travel = h('section', { class: 'panel', id: 'time-travel' });
  const eventsBox = h('section', { class: 'events', id: 'events' });
  main.append(h('div', { class: 'stream-body' }, travel, eventsBox));

  const byVersion = new Map(events.map((e) => [e.version, e]));
  const byId = new Map(events.map((e) => [e.id, e]));
  const stateCache = new Map();
  const stateAt = (v) => {
    if (!stateCache.has(v)) {
      stateCache.set(v, get(`aggregates/${seg(type)}/${seg(id)}`, { version: v }).catch((e) => {
        stateCache.delete(v);
        throw e;
      }));
    }
    return stateCache.get(v);
  };

  // The whole stream's span (its info), not only the events loaded so far.
  const parsed = (iso, fallback) => { const t = Date.parse(iso); return Number.isNaN(t) ? fallback : t; };
  const firstMs = parsed(info.firstEventAt, events.length ? Date.parse(events[0].recordedAt) : Date.now());
  const lastMs = parsed(info.lastEventAt, events.length ? Date.parse(events[events.length - 1].recordedAt) : firstMs);
  const modeVersion = h('input', { type: 'radio', name: 'travel-mode', id: 'mode-version', value: 'version', checked: route.params.at ? false : true });
  const modeTime = h('input', { type: 'radio', name: 'travel-mode', id: 'mode-time', value: 'time', checked: !!route.params.at });
  const marks = h('datalist', { id: 'event-marks' });
  const slider = h('input', { type: 'range', id: 'version-slider', 'aria-label': 'Version', list: 'event-marks' });
  // A tick per event (versions, or their times), for streams short enough to show them.
  const MAX_MARKS = 300;
  const drawMarks = (value) => replace(marks, events.length <= MAX_MARKS ? events.map((e) => h('option', { value: value(e) })) : []);
  const sliderLabel = h('output', { id: 'slider-label', for: 'version-slider' });
  const ticks = h('div', { class: 'ticks' });
  const stateBox = h('div', { id: 'state-view', class: 'state' });
  const changesBox = h('ul', { id: 'changes', class: 'changes' });
  travel.append(
    h('h2', { text: 'State over time' }),
    h('div', { class: 'toolbar' },
      h('label', {}, modeVersion, ' by version'),
      h('label', {}, modeTime, ' by time')),
    h('div', { class: 'slider' }, slider, marks, sliderLabel),
    ticks,
    h('h3', { text: 'Changes from the previous version' }), changesBox,
    h('h3', { text: 'State' }), stateBox);

  const setVersionMode = () => {
    slider.min = version > 0 ? 1 : 0;
    slider.max = version;
    slider.step = 1;
    slider.setAttribute('aria-label', 'Version');
    drawMarks((e) => e.version);
    replace(ticks, h('span', { text: 'v' + slider.min }), h('span', { text: 'v' + version }));
  };
  // Time mode: the slider is in milliseconds (`step=any`: any instant).
  // An event's instant is its own recorded time (nanoseconds, exact), so
  // landing on it includes it.
  const setTimeMode = () => {
    slider.min = firstMs;
    slider.max = Math.max(lastMs + 1, firstMs + 1000);
    slider.step = 'any';
    slider.setAttribute('aria-label', 'Time');
    drawMarks((e) => Date.parse(e.recordedAt) + 1);
    replace(ticks, h('span', { text: formatTime(new Date(firstMs)) }), h('span', { text: formatTime(new Date(lastMs)) }));
  };

  let request = 0;
  const show = async (exactAt) => {
    const mine = ++request;
    const timeMode = modeTime.checked;
    let target;
    let at;
    try {
      if (timeMode) {
        at = typeof exactAt === 'string' ? exactAt : new Date(Math.floor(Number(slider.value))).toISOString();
        sliderLabel.textContent = 'as of ' + preciseTime(at);
        const view = await get(`aggregates/${seg(type)}/${seg(id)}`, { at });
        if (mine !== request) return;
        stateCache.set(view.version, Promise.resolve(view));
        target = view.version;
      } else {
        target = Number(slider.value);
      }
      const [now, before] = await Promise.all([
        target > 0 ? stateAt(target) : Promise.resolve({ version: 0, state: null }),
        target > 1 ? stateAt(target - 1) : Promise.resolve({ version: 0, state: undefined }),
      ]);
      if (mine !== request) return;
      const event = byVersion.get(target);
      if (!timeMode) {
        sliderLabel.textContent = `version ${target} of ${version}` + (event ? ` · ${formatTime(new Date(event.recordedAt))}` : '');
      } else {
        sliderLabel.textContent = `as of ${preciseTime(at)} · version ${target}`;
      }
      stateBox.dataset.version = String(target);
      const changed = target > 0 ? diffPaths(before.state, now.state) : new Map();
      replace(stateBox,
        h('p', { class: 'muted' },
          target === 0 ? 'Before the first event.' : [
            'After ', h('strong', { text: event ? event.eventType : 'event' }), ` (version ${target})`,
          ]),
        target > 0 ? jsonTree(now.state, { changed }) : null);
      replace(changesBox, changed.size === 0
        ? h('li', { class: 'muted', text: target === 0 ? '—' : 'no change in the state' })
        : [...changed.entries()].map(([path, was]) => h('li', { 'data-path': path },
          h('code', { text: path.replace(/^\$\.?/, '') || '(state)' }), ': ',
          h('span', { class: 'was', text: was === undefined ? '(new)' : JSON.stringify(was) }), ' → ',
          h('span', { class: 'now', text: JSON.stringify(valueAt(now.state, path)) }))));
      for (const el of eventsBox.querySelectorAll('.event.current')) el.classList.remove('current');
      const card = eventsBox.querySelector(`.event[data-version="${target}"]`);
      if (card) {
        card.classList.add('current');
        // The slider panel stays put (sticky); the list follows it.
        card.scrollIntoView({ block: 'nearest' });
      }
      history.replaceState(null, '', '#' + ctx.routeHash('stream', [type, id],
        timeMode ? { at } : { v: target }));
    } catch (e) {
      if (mine === request) replace(stateBox, errorBox(e));
    }
  };
  let timer = null;
  slider.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(show, 120);
  });
  slider.addEventListener('change', () => { clearTimeout(timer); show(); });
  const eventMs = (e) => Date.parse(e.recordedAt) + 1;
  modeVersion.addEventListener('change', () => {
    const target = Number(stateBox.dataset.version || version);
    setVersionMode();
    slider.value = target || version;
    show();
  });
  modeTime.addEventListener('change', () => {
    const target = Number(stateBox.dataset.version || version);
    setTimeMode();
    const e = byVersion.get(target);
    slider.value = e ? eventMs(e) : lastMs + 1;
    show(e ? e.recordedAt : undefined);
  });

  // ---------------------------------------------------------- events
  const jumpTo = (v) => {
    if (!modeVersion.checked) {
      modeVersion.checked = true;
      setVersionMode();
    }
    slider.value = v;
    show();
    travel.scrollIntoView({ block: 'nearest' });
  };
  const focusEvent = (target) => {
    const card = document.getElementById('ev-' + target.id);
    if (card) {
      card.scrollIntoView({ block: 'center' });
      card.classList.add('flash');
      setTimeout(() => card.classList.remove('flash'), 1500);
    }
  };
  const idLink = (label, uuid) => {
    if (!uuid) return null;
    const local = byId.get(uuid);
    return h('div', { class: 'idlink' },
      h('span', { class: 'muted', text: label + ' ' }),
      local
        ? h('a', { href: '#ev-' + uuid, class: 'id', title: 'an event of this stream', onclick: (ev) => { ev.preventDefault(); focusEvent(local); } }, uuid)
        : link(ctx.routeHash('related', [], { id: uuid }), uuid, { class: 'id', title: 'find the related events' }));
  };
  const card = (e) => h('article', { class: 'event', id: 'ev-' + e.id, 'data-version': e.version, 'data-type': e.eventType },
    h('header', {},
      h('button', { class: 'ver', type: 'button', title: 'show the state after this event', onclick: () => jumpTo(e.version) }, '#' + e.version),
      h('span', { class: 'etype', text: e.eventType }),
      h('span', { class: 'badge badge-muted', title: 'schema version', text: 'v' + e.schemaVersion }),
      time(e.recordedAt),
      h('span', { class: 'muted pos', text: 'position ' + e.position })),
    h('div', { class: 'ids' },
      h('div', { class: 'idlink' }, h('span', { class: 'muted', text: 'event ' }), h('code', { class: 'id', text: e.id })),
      idLink('correlation', e.metadata && e.metadata.correlationId),
      idLink('causation', e.metadata && e.metadata.causationId)),
    h('div', { class: 'cols' },
      h('div', {}, h('h4', { text: 'Payload' }), h('div', { class: 'payload' }, jsonTree(e.data))),
      h('div', {}, h('h4', { text: 'Metadata' }), jsonTree(e.metadata))));
  eventsBox.append(h('h2', { text: `Events (${version})` }));
  const list = h('div', { class: 'event-list' });
  eventsBox.append(list);
  for (const e of events) list.appendChild(card(e));
  let more = null;
  const addMore = () => {
    if (more) more.remove();
    const last = events.length ? events[events.length - 1].version : 0;
    if (last >= version) return;
    more = h('button', {
      type: 'button', id: 'load-more', onclick: async () => {
        more.disabled = true;
        try {
          const next = await get(`events/${seg(type)}/${seg(id)}`, { from_version: last + 1, limit: PAGE });
          for (const e of next.events) {
            events.push(e); byVersion.set(e.version, e); byId.set(e.id, e);
            list.appendChild(card(e));
          }
          addMore();
        } catch (err) { eventsBox.appendChild(errorBox(err)); }
      },
    }, 'Load more events');
    eventsBox.appendChild(more);
  };
  addMore();

  // ---------------------------------------------------------- start
  if (route.params.at) {
    setTimeMode();
    const at = Date.parse(route.params.at);
    slider.value = Number.isNaN(at) ? lastMs + 1 : at;
  } else {
    setVersionMode();
    const v = Number(route.params.v);
    slider.value = Number.isInteger(v) && v >= 0 && v <= version ? v : version;
  }
  await show(route.params.at && !Number.isNaN(Date.parse(route.params.at)) ? route.params.at : undefined);
  return () => { clearTimeout(timer); request += 1; };
}

/** A time to the millisecond (local), for the slider's label. */
function preciseTime(iso) {
  const d = new Date(iso);
  return formatTime(d) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

function valueAt(value, path) {
  const parts = path.replace(/^\$/, '').match(/\.[^.[\]]+|\[\d+\]/g) || [];
  let v = value;
  for (const p of parts) {
    if (v === null || v === undefined) return undefined;
    v = p.startsWith('[') ? v[Number(p.slice(1, -1))] : v[p.slice(1)];
  }
  return v;
}
