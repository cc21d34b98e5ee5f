// SVG charts for the overview: a donut, horizontal bars and stacked columns. Each
// chart is a <figure> with a caption, the drawing (role="img" with a text
// summary), visible text labels and values, and the same data as a table
// under "Show as table" for screen readers and for copying.

import { h } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// A palette that keeps 3:1 contrast against white for graphics (WCAG 1.4.11).
export const palette = ['#2563eb', '#d97706', '#059669', '#9333ea', '#dc2626', '#0891b2', '#4d7c0f', '#be185d', '#475569', '#7c2d12'];

// Colours that mean something wherever device states are shown.
export const stateColours = { allowed: '#15803d', quarantined: '#b45309', blocked: '#b91c1c' };

function colour(d, i) { return d.colour || palette[i % palette.length]; }

function dataTable(caption, rows, headings) {
  return h('details', { class: 'chart-table' },
    h('summary', {}, 'Show as table'),
    h('table', {},
      h('caption', { class: 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, headings.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, h('th', { scope: 'row' }, r.label), h('td', { class: 'num' }, r.value.toLocaleString()))))));
}

function summary(rows) {
  return rows.map((r) => `${r.label}: ${r.value}`).join(', ');
}

function figure(title, drawing, legend, rows, headings, empty) {
  if (rows.length === 0 || rows.every((r) => r.value === 0)) {
    return h('figure', { class: 'chart' }, h('figcaption', {}, title), h('p', { class: 'muted chart-empty' }, empty || 'No data yet.'));
  }
  return h('figure', { class: 'chart' }, h('figcaption', {}, title), drawing, legend, dataTable(title, rows, headings));
}

/**
 * donut draws parts of a whole: rows [{label, value, colour?}]. The total
 * sits in the middle; the legend gives each label, count and share.
 */
export function donut(title, rows, { headings = ['Label', 'Count'], unit = '', empty, onPick } = {}) {
  const total = rows.reduce((a, r) => a + r.value, 0);
  const r = 60, w = 22, c = 2 * Math.PI * r;
  const svg = s('svg', { viewBox: '0 0 160 160', width: 160, height: 160, role: 'img', 'aria-label': `${title}: ${summary(rows)}` });
  svg.append(s('circle', { cx: 80, cy: 80, r, fill: 'none', stroke: '#e5e7eb', 'stroke-width': w }));
  let at = 0;
  rows.forEach((row, i) => {
    if (row.value <= 0) return;
    const len = (row.value / total) * c;
    svg.append(s('circle', {
      cx: 80, cy: 80, r, fill: 'none', stroke: colour(row, i), 'stroke-width': w,
      'stroke-dasharray': `${len} ${c - len}`, 'stroke-dashoffset': -at, transform: 'rotate(-90 80 80)',
    }, s('title', {}, `${row.label}: ${row.value}`)));
    at += len;
  });
  svg.append(s('text', { x: 80, y: 78, 'text-anchor': 'middle', class: 'donut-total' }, total.toLocaleString()));
  svg.append(s('text', { x: 80, y: 98, 'text-anchor': 'middle', class: 'donut-unit' }, unit));
  const legend = h('ul', { class: 'legend' }, rows.map((row, i) => {
    const pct = total ? Math.round((row.value / total) * 100) : 0;
    const swatch = s('svg', { width: 12, height: 12, 'aria-hidden': 'true', class: 'swatch' }, s('rect', { width: 12, height: 12, rx: 2, fill: colour(row, i) }));
    const href = onPick && onPick(row);
    const label = href ? h('a', { href }, row.label) : h('span', {}, row.label);
    return h('li', {}, swatch, label, h('span', { class: 'legend-value' }, `${row.value.toLocaleString()} (${pct} %)`));
  }));
  return figure(title, h('div', { class: 'donut' }, svg), legend, rows, headings, empty);
}

/** bars draws one horizontal bar per row, longest first, labels left and values right. */
export function bars(title, rows, { headings = ['Label', 'Count'], empty, max = 8 } = {}) {
  // Longest first; a row that gathers the rest (key "other") stays last.
  const isRest = (r) => (r.key === 'other' ? 1 : 0);
  let list = [...rows].sort((a, b) => isRest(a) - isRest(b) || b.value - a.value);
  if (list.length > max) {
    const rest = list.slice(max - 1).reduce((a, r) => a + r.value, 0);
    list = [...list.slice(0, max - 1), { label: 'Other', value: rest, key: 'other', colour: '#64748b' }];
  }
  const top = Math.max(1, ...list.map((r) => r.value));
  // About a panel's width on a laptop, so the text shows near its real size.
  const rowH = 28, labelW = 150, barW = 160, valueW = 40;
  const width = labelW + barW + valueW;
  const svg = s('svg', { viewBox: `0 0 ${width} ${list.length * rowH}`, width: '100%', role: 'img', 'aria-label': `${title}: ${summary(list)}`, class: 'bars', preserveAspectRatio: 'xMinYMin meet' });
  list.forEach((row, i) => {
    const y = i * rowH;
    const len = Math.max(2, (row.value / top) * barW);
    // What fits the label column at 14px; the whole label is the title.
    const label = row.label.length > 18 ? row.label.slice(0, 17) + '…' : row.label;
    svg.append(s('text', { x: labelW - 8, y: y + 18, 'text-anchor': 'end', class: 'bar-label' }, label, s('title', {}, row.label)));
    svg.append(s('rect', { x: labelW, y: y + 5, width: len, height: rowH - 10, rx: 3, fill: colour(row, i) }));
    svg.append(s('text', { x: labelW + len + 6, y: y + 18, class: 'bar-value' }, row.value.toLocaleString()));
  });
  return figure(title, svg, null, rows.length ? list : rows, headings, empty);
}

/**
 * stacked draws a time series of several parts per column (rows
 * [{label, values: [n, …]}], series [{name, colour}]), with a legend and a
 * table of every part and the total.
 */
export function stacked(title, rows, series, { empty, firstHeading = 'Hour', width = 1000 } = {}) {
  const totals = rows.map((r) => r.values.reduce((a, v) => a + v, 0));
  const caption = h('figcaption', {}, title);
  if (!rows.length || totals.every((t) => t === 0)) {
    return h('figure', { class: 'chart' }, caption, h('p', { class: 'muted chart-empty' }, empty || 'No data yet.'));
  }
  const top = niceMax(Math.max(1, ...totals));
  const n = rows.length;
  // width is the drawing's width in pixels (its viewBox too), so the axis
  // text keeps its size on a tablet instead of shrinking with the drawing.
  const left = 48, bottom = 24, height = 230, plotH = height - bottom - 10;
  const colW = (width - left) / n;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img', class: 'columns', preserveAspectRatio: 'xMinYMin meet',
    'aria-label': `${title}: ${rows.map((r, i) => `${r.label} ${totals[i]}`).join(', ')}` });
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const y = 10 + plotH - f * plotH;
    svg.append(s('line', { x1: left, x2: width, y1: y, y2: y, class: 'gridline' }));
    svg.append(s('text', { x: left - 6, y: y + 4, 'text-anchor': 'end', class: 'axis' }, Math.round(top * f).toLocaleString()));
  }
  // A time label needs about 80 units; label every so many columns.
  const every = Math.ceil(n / Math.max(2, Math.floor((width - left) / 80)));
  rows.forEach((row, i) => {
    const x = left + i * colW + 2;
    let y = 10 + plotH;
    row.values.forEach((v, j) => {
      if (v <= 0) return;
      const hg = (v / top) * plotH;
      y -= hg;
      svg.append(s('rect', { x, y, width: Math.max(1, colW - 4), height: hg, fill: series[j].colour },
        s('title', {}, `${row.label}: ${series[j].name} ${v}`)));
    });
    if (i % every === 0) {
      svg.append(s('text', { x: x + (colW - 4) / 2, y: height - 6, 'text-anchor': 'middle', class: 'axis' }, row.label));
    }
  });
  const legend = h('ul', { class: 'legend legend-row' }, series.map((se) => h('li', {},
    s('svg', { width: 12, height: 12, 'aria-hidden': 'true', class: 'swatch' }, s('rect', { width: 12, height: 12, rx: 2, fill: se.colour })), h('span', {}, se.name))));
  const table = h('details', { class: 'chart-table' }, h('summary', {}, 'Show as table'),
    h('table', {}, h('caption', { class: 'sr-only' }, title),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, firstHeading), series.map((se) => h('th', { scope: 'col', class: 'num' }, se.name)), h('th', { scope: 'col', class: 'num' }, 'Total'))),
      h('tbody', {}, rows.map((r, i) => h('tr', {}, h('th', { scope: 'row' }, r.label), r.values.map((v) => h('td', { class: 'num' }, v.toLocaleString())), h('td', { class: 'num' }, totals[i].toLocaleString()))))));
  return h('figure', { class: 'chart' }, caption, svg, legend, table);
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten, so axis labels are round.
function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
