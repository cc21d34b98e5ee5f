// Overview: device counts, charts of devices by state, OS and model, and
// EAS requests per hour for the last 24 hours (GET /stats). Without
// /stats (an older server) the counts come from GET /devices and the
// hourly chart says it is unavailable.

import * as api from '../api.js';
import { h, setQuarantineCount } from '../dom.js';
import { donut, bars, columns, stateColours } from '../charts.js';

const states = ['allowed', 'quarantined', 'blocked'];

/** rowsOf turns {key: n} or [{label|name|key|state|os|model, count|value}] into [{label, value}]. */
export function rowsOf(v, keyNames = []) {
  if (!v) return [];
  if (Array.isArray(v)) {
    return v.map((r) => {
      let label = '';
      for (const k of [...keyNames, 'label', 'name', 'key', 'value_name']) {
        if (r[k] !== undefined && r[k] !== null) { label = String(r[k]); break; }
      }
      const value = Number(r.count ?? r.value ?? r.n ?? r.devices ?? r.requests ?? 0);
      return { label: label || 'Unknown', value };
    });
  }
  return Object.entries(v).map(([label, value]) => ({ label: label || 'Unknown', value: Number(value) || 0 }));
}

async function statsOrNull() {
  try {
    return await api.get('/stats');
  } catch (e) {
    if (e.status === 404 || e.status === 405) return null;
    throw e;
  }
}

async function fallbackStats() {
  // One page of up to 1000 devices for OS and model; totals per state from the API's counts.
  const [all, ...perState] = await Promise.all([
    api.get('/devices' + api.query({ limit: 1000 })),
    ...states.map((s) => api.get('/devices' + api.query({ state: s, limit: 1 }))),
  ]);
  const count = (key) => {
    const m = new Map();
    for (const d of all.items) {
      const k = d[key] || 'Unknown';
      m.set(k, (m.get(k) || 0) + 1);
    }
    return [...m].map(([label, value]) => ({ label, value }));
  };
  return {
    byState: states.map((s, i) => ({ label: s, value: perState[i].total })),
    byOS: count('os'), byModel: count('model'), hourly: null, partial: all.total > all.items.length,
  };
}

function hourLabel(v) {
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function normalise(st) {
  const byState = rowsOf(st.devices_by_state ?? st.by_state ?? st.states, ['state', 'access_state']);
  const hourlyRaw = st.requests_per_hour ?? st.eas_requests_per_hour ?? st.hourly ?? null;
  let hourly = null;
  if (Array.isArray(hourlyRaw)) {
    hourly = hourlyRaw.map((r) => ({ label: hourLabel(r.hour ?? r.start ?? r.at ?? r.time), value: Number(r.count ?? r.requests ?? r.value ?? 0) }));
  }
  return {
    byState: states.map((s) => ({ label: s, value: (byState.find((r) => r.label === s) || { value: 0 }).value })),
    byOS: rowsOf(st.devices_by_os ?? st.by_os ?? st.os, ['os']),
    byModel: rowsOf(st.devices_by_model ?? st.by_model ?? st.models, ['model']),
    hourly,
  };
}

export async function render(main, ctx) {
  const [st, wipes] = await Promise.all([statsOrNull(), api.get('/devices' + api.query({ wipe_pending: 'true', limit: 1 }))]);
  const data = st ? normalise(st) : await fallbackStats();
  if (ctx.stale()) return;
  const n = (s) => data.byState.find((r) => r.label === s).value;
  const total = data.byState.reduce((a, r) => a + r.value, 0);
  setQuarantineCount(n('quarantined'));

  const card = (kind, href, big, what) => h('a', { class: `card ${kind}`, href }, h('span', { class: 'big' }, big.toLocaleString()), h('span', { class: 'what' }, what));
  main.append(
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Overview'), h('p', {}, 'Mobile devices and ActiveSync traffic at a glance.'))),
    h('div', { class: 'cards' },
      card('', '#/devices', total, 'devices in all'),
      card('warn', '#/quarantine', n('quarantined'), 'waiting in quarantine'),
      card('ok', '#/devices?state=allowed', n('allowed'), 'allowed'),
      card('bad', '#/devices?state=blocked', n('blocked'), 'blocked'),
      card('bad', '#/devices?wipe_pending=true', wipes.total, 'wipes pending')),
    h('div', { class: 'grid' },
      h('section', { class: 'panel', 'aria-label': 'Devices by state' },
        donut('Devices by state', data.byState.map((r) => ({ ...r, colour: stateColours[r.label] })),
          { headings: ['State', 'Devices'], unit: 'devices', empty: 'No devices have connected yet.', onPick: (r) => r.label === 'quarantined' ? '#/quarantine' : `#/devices?state=${r.label}` })),
      h('section', { class: 'panel', 'aria-label': 'Devices by operating system' },
        donut('Devices by operating system', data.byOS, { headings: ['Operating system', 'Devices'], unit: 'devices', empty: 'No devices have connected yet.' })),
      h('section', { class: 'panel', 'aria-label': 'Devices by model' },
        bars('Devices by model', data.byModel, { headings: ['Model', 'Devices'], empty: 'No devices have connected yet.' }))),
    h('section', { class: 'panel hourly', 'aria-label': 'ActiveSync requests per hour' },
      data.hourly
        ? columns('ActiveSync requests per hour, last 24 hours', data.hourly, { headings: ['Hour', 'Requests'], empty: 'No ActiveSync requests in the last 24 hours.' })
        : h('figure', { class: 'chart' }, h('figcaption', {}, 'ActiveSync requests per hour'), h('p', { class: 'muted chart-empty' }, 'This server does not report request statistics.'))),
    data.partial ? h('p', { class: 'muted' }, 'Operating systems and models are counted over the first 1000 devices.') : null,
  );
}
