// Device list: filter by user, state, device type and pending wipes
// (the API's query parameters, kept in the location hash so a filtered
// list can be bookmarked within the session), sort the page, page through.

import * as api from '../api.js';
import { h, field, pager } from '../dom.js';
import { deviceTable, sortDevices } from '../devicetable.js';

const limit = 50;

export async function render(main, ctx) {
  const p = ctx.params;
  const f = {
    user: p.get('user') || '', state: p.get('state') || '', type: p.get('type') || '',
    wipe_pending: p.get('wipe_pending') === 'true' ? 'true' : '',
  };
  const offset = Math.max(0, Number(p.get('offset')) || 0);
  const sort = { key: p.get('sort') || 'last_seen', dir: p.get('dir') === 'asc' ? 'asc' : 'desc' };
  const hashFor = (changes) => {
    const q = { ...f, offset: offset || '', sort: sort.key === 'last_seen' ? '' : sort.key, dir: sort.dir === 'desc' ? '' : sort.dir, ...changes };
    return '#/devices' + api.query(q);
  };
  const res = await api.get('/devices' + api.query({ ...f, limit, offset }));
  if (ctx.stale()) return;

  const user = h('input', { type: 'search', id: 'filter-user', value: f.user, placeholder: 'alice@example.com', autocomplete: 'off' });
  const state = h('select', { id: 'filter-state' },
    [['', 'Any state'], ['allowed', 'Allowed'], ['quarantined', 'Quarantined'], ['blocked', 'Blocked']]
      .map(([v, t]) => h('option', { value: v, selected: v === f.state }, t)));
  const type = h('input', { type: 'search', id: 'filter-type', value: f.type, placeholder: 'iPhone', autocomplete: 'off' });
  const wipe = h('input', { type: 'checkbox', id: 'filter-wipe', checked: f.wipe_pending === 'true' });
  const form = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Filter devices' },
    field('User address', user), field('State', state), field('Device type', type),
    h('div', { class: 'check' }, wipe, h('label', { for: 'filter-wipe' }, 'Wipe pending')),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'),
    (f.user || f.state || f.type || f.wipe_pending) ? h('a', { href: '#/devices' }, 'Clear filters') : null);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    ctx.go('#/devices' + api.query({ user: user.value.trim(), state: state.value, type: type.value.trim(), wipe_pending: wipe.checked ? 'true' : '' }));
  });
  state.addEventListener('change', () => form.requestSubmit());
  wipe.addEventListener('change', () => form.requestSubmit());

  const { bar, table } = deviceTable(sortDevices(res.items, sort), {
    isAdmin: ctx.isAdmin,
    sort,
    onSort: (key) => ctx.go(hashFor({ sort: key, dir: sort.key === key && sort.dir === 'asc' ? 'desc' : 'asc' })),
    emptyText: f.user || f.state || f.type || f.wipe_pending ? 'No device matches these filters.' : 'No device has connected yet.',
  });
  main.append(
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Devices'),
      h('p', {}, `${res.total} device${res.total === 1 ? '' : 's'}${f.user || f.state || f.type || f.wipe_pending ? ' match' : ''}. Sorting applies to the page shown.`))),
    form, bar, table,
    pager(offset, limit, res.total, (o) => ctx.go(hashFor({ offset: o || '' }))));
}
