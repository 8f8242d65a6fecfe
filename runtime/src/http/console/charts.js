// Small hand-rolled SVG charts (no library: three chart shapes are all the
// console draws, and SVG elements built with createElementNS keep every
// label as text).

import { svg, h } from './dom.js';

const PALETTE = ['#2563eb', '#16a34a', '#d97706', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d'];

/** A color per index, stable across redraws. */
export function color(i) {
  return PALETTE[i % PALETTE.length];
}

/**
 * Horizontal bars, one per [label, value] pair, largest first.
 * @param {Array<[string, number]>} pairs
 */
export function barChart(pairs, { title = '', width = 560 } = {}) {
  const rows = [...pairs].sort((a, b) => b[1] - a[1]);
  if (rows.length === 0) return h('p', { class: 'muted', text: 'No data yet.' });
  const rowH = 24;
  const labelW = Math.min(240, Math.max(80, ...rows.map(([l]) => String(l).length * 8 + 12)));
  const valueW = 64;
  const height = rows.length * rowH + 8;
  const max = Math.max(1, ...rows.map(([, v]) => v));
  const barMax = width - labelW - valueW - 16;
  const chart = svg('svg', {
    class: 'chart bar-chart', viewBox: `0 0 ${width} ${height}`, width, height,
    role: 'img', 'aria-label': title,
  }, svg('title', { text: title }));
  rows.forEach(([label, value], i) => {
    const y = 4 + i * rowH;
    const w = Math.max(1, (value / max) * barMax);
    chart.appendChild(svg('g', { class: 'bar', 'data-label': label, 'data-value': value },
      svg('text', { x: labelW - 6, y: y + 16, 'text-anchor': 'end', class: 'label', text: label }),
      svg('rect', { x: labelW, y: y + 3, width: w, height: rowH - 8, rx: 3, fill: color(i) },
        svg('title', { text: `${label}: ${value}` })),
      svg('text', { x: labelW + w + 6, y: y + 16, class: 'value', text: value.toLocaleString() })));
  });
  return chart;
}

/**
 * Vertical columns over time buckets (events per minute).
 * @param {Array<{t: Date, n: number}>} buckets in time order
 */
export function columnChart(buckets, { title = '', width = 1200, height = 220 } = {}) {
  const padL = 36, padB = 22, padT = 8, padR = 8;
  const innerW = width - padL - padR, innerH = height - padT - padB;
  const max = Math.max(1, ...buckets.map((b) => b.n));
  const colW = buckets.length ? innerW / buckets.length : innerW;
  const chart = svg('svg', {
    class: 'chart column-chart', viewBox: `0 0 ${width} ${height}`, width, height,
    role: 'img', 'aria-label': title,
  }, svg('title', { text: title }));
  // Axis and gridlines at 0, max/2, max.
  for (const frac of [0, 0.5, 1]) {
    const y = padT + innerH - frac * innerH;
    chart.appendChild(svg('line', { x1: padL, x2: width - padR, y1: y, y2: y, class: 'grid' }));
    chart.appendChild(svg('text', { x: padL - 4, y: y + 4, 'text-anchor': 'end', class: 'axis',
      text: String(Math.round(frac * max)) }));
  }
  buckets.forEach((b, i) => {
    const hgt = (b.n / max) * innerH;
    const x = padL + i * colW;
    chart.appendChild(svg('rect', {
      x: x + 1, y: padT + innerH - hgt, width: Math.max(1, colW - 2), height: hgt,
      class: 'column', 'data-n': b.n,
    }, svg('title', { text: `${b.t.toLocaleTimeString()}: ${b.n} events` })));
  });
  const label = (b) => b.t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (buckets.length) {
    chart.appendChild(svg('text', { x: padL, y: height - 6, class: 'axis', text: label(buckets[0]) }));
    chart.appendChild(svg('text', { x: width - padR, y: height - 6, 'text-anchor': 'end', class: 'axis',
      text: label(buckets[buckets.length - 1]) }));
  }
  return chart;
}

/**
 * A sparkline of recent samples (a projection's lag over time).
 * @param {number[]} values oldest first
 */
export function sparkline(values, { width = 160, height = 36, title = '' } = {}) {
  const peak = values.length ? Math.max(...values) : 0;
  const max = Math.max(1, peak);
  const n = values.length;
  const step = n > 1 ? (width - 4) / (n - 1) : 0;
  const pts = values.map((v, i) => `${(2 + i * step).toFixed(1)},${(height - 3 - (v / max) * (height - 8)).toFixed(1)}`);
  const chart = svg('svg', {
    class: 'chart sparkline', viewBox: `0 0 ${width} ${height}`, width, height,
    role: 'img', 'aria-label': title,
  }, svg('title', { text: title }));
  chart.appendChild(svg('line', { x1: 0, x2: width, y1: height - 3, y2: height - 3, class: 'grid' }));
  if (n > 0) {
    chart.appendChild(svg('polyline', { points: pts.join(' '), class: 'spark' }));
    const [lx, ly] = pts[n - 1].split(',');
    chart.appendChild(svg('circle', { cx: lx, cy: ly, r: 2.5, class: 'spark-dot' }));
    chart.appendChild(svg('text', { x: width - 2, y: 10, 'text-anchor': 'end', class: 'axis', text: `max ${peak}` }));
  }
  return chart;
}
