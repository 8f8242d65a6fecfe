// Statistics: totals, events by type and streams by aggregate type
// (`GET /stats`, the store's own aggregate queries), and events per minute
// over the last hour, counted in the browser from the newest events
// (`GET /events`, at most MAX_EVENTS of them; the chart says how many).

import { h, replace, errorBox } from '../dom.js';
import { get } from '../api.js';
import { barChart, columnChart } from '../charts.js';

const PAGE = 1000;
const MAX_EVENTS = 5000;
const MINUTES = 60;

export async function render(main) {
  main.append(h('h1', { text: 'Statistics' }));
  let stats;
  try {
    stats = await get('stats', { limit: 1 });
  } catch (e) {
    main.appendChild(errorBox(e));
    return undefined;
  }
  const card = (label, value, id) => h('div', { class: 'card' },
    h('div', { class: 'muted', text: label }), h('div', { class: 'big', id, text: Number(value || 0).toLocaleString() }));
  main.append(h('div', { class: 'cards' },
    card('Events', stats.totalEvents, 'total-events'),
    card('Streams', stats.totalStreams, 'total-streams'),
    card('Snapshots', stats.totalSnapshots, 'total-snapshots'),
    card('Head position', stats.headPosition, 'head-position')));

  const perMinute = h('div', { id: 'events-per-minute' }, h('p', { class: 'muted', text: 'Counting…' }));
  main.append(
    h('section', { class: 'panel' }, h('h2', { text: 'Events per minute (last hour)' }), perMinute),
    h('div', { class: 'two' },
      h('section', { class: 'panel', id: 'events-by-type' }, h('h2', { text: 'Events by type' }),
        barChart(Object.entries(stats.eventsByType || {}), { title: 'Events by type' })),
      h('section', { class: 'panel', id: 'streams-by-type' }, h('h2', { text: 'Streams by aggregate type' }),
        barChart(Object.entries(stats.streamsByAggregateType || {}), { title: 'Streams by aggregate type' }))));

  let stopped = false;
  try {
    const head = stats.headPosition || 0;
    const now = Date.now();
    const start = Math.floor(now / 60000) * 60000 - (MINUTES - 1) * 60000;
    const counts = new Array(MINUTES).fill(0);
    let to = head;
    let read = 0;
    let older = false;
    while (!stopped && to >= 1 && read < MAX_EVENTS && !older) {
      const from = Math.max(1, to - PAGE + 1);
      const page = await get('events', { from, limit: to - from + 1 });
      for (const e of page.events) {
        const t = Date.parse(e.recordedAt);
        if (t < start) { older = true; continue; }
        const i = Math.floor((t - start) / 60000);
        if (i >= 0 && i < MINUTES) counts[i] += 1;
      }
      read += page.events.length;
      to = from - 1;
    }
    if (stopped) return undefined;
    const buckets = counts.map((n, i) => ({ t: new Date(start + i * 60000), n }));
    const complete = older || to < 1;
    replace(perMinute,
      columnChart(buckets, { title: 'Events per minute' }),
      h('p', { class: 'muted', text: complete
        ? `${counts.reduce((a, b) => a + b, 0)} events in the last hour.`
        : `Counted from the newest ${read} events only (older ones in the hour not read).` }));
  } catch (e) {
    replace(perMinute, errorBox(e));
  }
  return () => { stopped = true; };
}
