// Device list: search and filters (state, compliance, wipe, type, OS,
// model), sorting and paging, all done by the API (GET /devices query
// parameters) and kept in the location hash, so the overview's links and
// the back button land on the same list.

import * as api from '../api.js';
import { h, put, field, pager } from '../dom.js';
import { deviceTable } from '../devicetable.js';

const limit = 50;
const filterKeys = ['q', 'state', 'compliance', 'wipe', 'type', 'os', 'model', 'user'];

// Last-sync windows: [value, label, API parameter, days back].
const seen = [['', 'Any time'], ['1d', 'In the last 24 hours', 'seen_after', 1], ['7d', 'In the last 7 days', 'seen_after', 7],
  ['stale7', 'Not in 7 days', 'seen_before', 7], ['stale30', 'Not in 30 days', 'seen_before', 30]];

function seenParams(v) {
  const w = seen.find(([k]) => k === v && k);
  if (!w) return {};
  const at = new Date(Date.now() - w[3] * 86400000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return { [w[2]]: at };
}

export async function render(main, ctx) {
  const p = ctx.params;
  const f = {};
  for (const k of filterKeys) f[k] = (p.get(k) || '').trim();
  if (p.get('wipe_pending') === 'true') f.wipe = 'pending'; // older links
  f.seen = seen.some(([k]) => k && k === p.get('seen')) ? p.get('seen') : '';
  const offset = Math.max(0, Number(p.get('offset')) || 0);
  // API sort values: last_seen, -last_seen, first_seen, -first_seen, user, model, state. Default: most recently seen first.
  const sortParam = ['last_seen', '-last_seen', 'first_seen', '-first_seen', 'user', 'model', 'state'].includes(p.get('sort')) ? p.get('sort') : '-last_seen';
  const sort = { key: sortParam.replace(/^-/, ''), dir: sortParam.startsWith('-') ? 'desc' : 'asc' };
  const hashFor = (changes) => '#/devices' + api.query({ ...f, sort: sortParam === '-last_seen' ? '' : sortParam, offset: offset || '', ...changes });
  const { seen: seenKey, ...apiFilter } = f;
  const res = await api.get('/devices' + api.query({ ...apiFilter, ...seenParams(seenKey), sort: sortParam, limit, offset }));
  if (ctx.stale()) return;

  const opts = (list, cur) => list.map(([v, t]) => h('option', { value: v, selected: v === cur }, t));
  const q = h('input', { type: 'search', id: 'filter-q', value: f.q, placeholder: 'Address, DeviceId, model, name', autocomplete: 'off', maxlength: 256 });
  const state = h('select', { id: 'filter-state' }, opts([['', 'Any'], ['allowed', 'Allowed'], ['quarantined', 'Quarantined'], ['blocked', 'Blocked']], f.state));
  const compliance = h('select', { id: 'filter-compliance' }, opts([['', 'Any'], ['compliant', 'Compliant'], ['non-compliant', 'Not compliant']], f.compliance));
  const wipe = h('select', { id: 'filter-wipe' }, opts([['', 'Any'], ['pending', 'Wipe pending'], ['wiped', 'Wiped'], ['none', 'Not wiped']], f.wipe));
  const seenSel = h('select', { id: 'filter-seen' }, opts(seen.map(([k, t]) => [k, t]), f.seen));
  const form = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Filter devices' },
    field('Search', q), field('State', state), field('Policy', compliance), field('Wipe', wipe), field('Last sync', seenSel),
    h('button', { type: 'submit', class: 'primary' }, 'Search'));
  const filtered = filterKeys.some((k) => f[k]) || !!f.seen;
  const extra = ['type', 'os', 'model', 'user'].filter((k) => f[k]);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    ctx.go('#/devices' + api.query({ ...Object.fromEntries(extra.map((k) => [k, f[k]])), q: q.value.trim(), state: state.value, compliance: compliance.value, wipe: wipe.value, seen: seenSel.value, sort: sortParam === '-last_seen' ? '' : sortParam }));
  });
  for (const sel of [state, compliance, wipe, seenSel]) sel.addEventListener('change', () => form.requestSubmit());

  const { bar, table } = deviceTable(res.items, {
    isAdmin: ctx.isAdmin,
    sort,
    sortable: ['model', 'user', 'state', 'first_seen', 'last_seen'],
    // Times sort newest first, then oldest first on a second click; the
    // rest sort one way. '' is the default, -last_seen.
    onSort: (key) => {
      let next = key;
      if (key === 'last_seen') next = sortParam === '-last_seen' ? 'last_seen' : '';
      else if (key === 'first_seen') next = sortParam === '-first_seen' ? 'first_seen' : '-first_seen';
      ctx.go(hashFor({ offset: '', sort: next }));
    },
    emptyText: filtered ? 'No device matches.' : 'No device has connected yet.',
  });
  const names = { type: 'device type', os: 'OS', model: 'model', user: 'user' };
  put(main,
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Devices'),
      h('p', {}, `${res.total} device${res.total === 1 ? '' : 's'}${filtered ? ' match' : ''}.`))),
    form,
    extra.length ? h('p', { class: 'chips' }, 'Only devices with ', extra.map((k, i) => [i ? ', ' : '', `${names[k]} `, h('strong', {}, f[k])]), '. ',
      h('a', { href: hashFor(Object.fromEntries(extra.map((k) => [k, '']))) }, 'Show all')) : null,
    filtered ? h('p', {}, h('a', { href: '#/devices' }, 'Clear search and filters')) : null,
    bar, table,
    pager(offset, limit, res.total, (o) => ctx.go(hashFor({ offset: o || '' }))));
}
