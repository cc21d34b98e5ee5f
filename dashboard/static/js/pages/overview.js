// Overview: device counts, charts of devices by state, OS and model, and
// EAS requests per hour for the last 24 hours, all from GET /stats. Legend
// entries lead to the device list filtered the same way. Without /stats
// (an older server) the counts come from GET /devices and the hourly
// chart says it is unavailable.

import * as api from '../api.js';
import { h, put, when, setQuarantineCount } from '../dom.js';
import { donut, bars, stacked, stateColours, palette } from '../charts.js';

const states = ['allowed', 'quarantined', 'blocked'];

// otherColour is the grey of the "Other models" bar, so it does not pass
// for one of the named models (slate, 4.8:1 on white).
const otherColour = '#64748b';

async function statsOrNull() {
  try {
    return await api.get('/stats');
  } catch (e) {
    if (e.status === 404 || e.status === 405) return null;
    throw e;
  }
}

const named = (list) => (list || []).map((r) => ({ label: r.name || 'Unknown', value: Number(r.count) || 0, key: r.name }));

async function fallbackStats() {
  // One page of up to 1000 devices for OS and model; totals per state from the API's counts.
  const [all, wipes, ...perState] = await Promise.all([
    api.get('/devices' + api.query({ limit: 1000 })),
    api.get('/devices' + api.query({ wipe_pending: 'true', limit: 1 })),
    ...states.map((s) => api.get('/devices' + api.query({ state: s, limit: 1 }))),
  ]);
  const count = (key) => {
    const m = new Map();
    for (const d of all.items) {
      const k = d[key] || '';
      m.set(k, (m.get(k) || 0) + 1);
    }
    return [...m].map(([label, value]) => ({ label: label || 'Unknown', value, key: label }));
  };
  return {
    total: all.total, byState: states.map((s, i) => ({ label: s, value: perState[i].total })),
    byOS: count('os'), byModel: count('model'), wipePending: wipes.total, wiped: null, compliant: null,
    hourly: null, since: null, partial: all.total > all.items.length,
  };
}

function normalise(st) {
  const d = st.devices || {};
  const byState = d.by_state || {};
  return {
    total: d.total || 0,
    byState: states.map((s) => ({ label: s, value: Number(byState[s]) || 0 })),
    // by_model ends with "other" for the models beyond the ten most common.
    byOS: named(d.by_os), byModel: named(d.by_model).map((r) => (r.key === 'other' ? { ...r, label: 'Other models' } : r)),
    wiped: d.wiped ?? null, wipePending: d.wipe_pending ?? 0, compliant: d.compliant ?? null,
    hourly: Array.isArray(st.requests_per_hour) ? st.requests_per_hour : null,
    since: st.requests_since || null,
  };
}

function hourLabel(v) {
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export async function render(main, ctx) {
  const st = await statsOrNull();
  const data = st ? normalise(st) : await fallbackStats();
  if (ctx.stale()) return;
  const n = (s) => data.byState.find((r) => r.label === s).value;
  setQuarantineCount(n('quarantined'));

  // The hourly chart spans the panel: #main's width less its padding and
  // the panel's (about 5rem), between a phone's and a laptop's.
  const chartWidth = Math.round(Math.min(1000, Math.max(480, main.clientWidth - 78)));
  const card = (kind, href, big, what) => h('a', { class: `card ${kind}`, href }, h('span', { class: 'big' }, big.toLocaleString()), h('span', { class: 'what' }, what));
  const filterLink = (param) => (r) => (!r.key || r.key === 'other' ? null : `#/devices${api.query({ [param]: r.key })}`);
  const series = [{ name: 'Sync', colour: palette[0] }, { name: 'Ping', colour: palette[2] }, { name: 'Other commands', colour: palette[1] }];
  put(main,
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Overview'), h('p', {}, 'Mobile devices and ActiveSync traffic at a glance.')),
      h('button', { type: 'button', class: 'ghost', onclick: () => ctx.rerender() }, 'Refresh')),
    h('div', { class: 'cards' },
      card('', '#/devices', data.total, 'devices'),
      card('warn', '#/quarantine', n('quarantined'), 'waiting in quarantine'),
      card('bad', '#/devices?state=blocked', n('blocked'), 'blocked'),
      card('bad', '#/devices?wipe=pending', data.wipePending, 'wipes pending'),
      data.compliant !== null ? card(data.total - data.compliant ? 'warn' : 'ok', '#/devices?compliance=non-compliant', data.total - data.compliant, 'not compliant with their policy') : null),
    h('div', { class: 'grid charts-grid' },
      h('section', { class: 'panel', 'aria-label': 'Devices by state' },
        donut('Devices by state', data.byState.map((r) => ({ ...r, colour: stateColours[r.label] })),
          { headings: ['State', 'Devices'], unit: 'devices', empty: 'No device has connected yet.', onPick: (r) => (r.label === 'quarantined' ? '#/quarantine' : `#/devices?state=${r.label}`) })),
      h('section', { class: 'panel', 'aria-label': 'Devices by operating system' },
        donut('Devices by operating system', data.byOS, { headings: ['Operating system', 'Devices'], unit: 'devices', empty: 'No device has connected yet.', onPick: st ? filterLink('os') : null })),
      h('section', { class: 'panel wide-narrow', 'aria-label': 'Devices by model' },
        bars('Devices by model', data.byModel.map((r) => (r.key === 'other' ? { ...r, colour: otherColour } : r)), { headings: ['Model', 'Devices'], empty: 'No device has connected yet.', max: 11 }))),
    h('section', { class: 'panel hourly', 'aria-label': 'ActiveSync requests per hour' },
      data.hourly
        ? [stacked('ActiveSync requests per hour, last 24 hours', data.hourly.map((r) => ({ label: hourLabel(r.start), values: [r.sync || 0, r.ping || 0, r.other || 0] })), series,
          { empty: 'No ActiveSync requests in the last 24 hours.', width: chartWidth }),
          data.since ? h('p', { class: 'muted chart-note' }, `Counted by this server process since ${when(data.since)}.`) : null]
        : h('figure', { class: 'chart' }, h('figcaption', {}, 'ActiveSync requests per hour'), h('p', { class: 'muted chart-empty' }, 'This server does not report request statistics.'))),
    data.partial ? h('p', { class: 'muted' }, 'Operating systems and models are counted over the first 1000 devices.') : null,
  );
}
