// Audit log (admin): who did what, when and from where, newest first,
// filtered by actor, action, target and time (the API's query parameters,
// kept in the location hash).

import * as api from '../api.js';
import { h, put, field, when, emptyRow, pager } from '../dom.js';

const limits = [100, 250, 1000];

// localInput turns an RFC 3339 time into a datetime-local value and back.
function toLocal(t) {
  if (!t) return '';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
function fromLocal(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export async function render(main, ctx) {
  const p = ctx.params;
  const f = { actor: p.get('actor') || '', action: p.get('action') || '', target: p.get('target') || '', since: p.get('since') || '', until: p.get('until') || '' };
  const limit = limits.includes(Number(p.get('limit'))) ? Number(p.get('limit')) : 100;
  const offset = Math.max(0, Number(p.get('offset')) || 0);
  const res = await api.get('/audit' + api.query({ ...f, limit, offset: offset || '' }));
  if (ctx.stale()) return;

  const actor = h('input', { type: 'search', id: 'audit-actor', value: f.actor, autocomplete: 'off' });
  const action = h('input', { type: 'search', id: 'audit-action', value: f.action, autocomplete: 'off', placeholder: 'device.wipe', list: 'audit-actions' });
  const target = h('input', { type: 'search', id: 'audit-target', value: f.target, autocomplete: 'off' });
  const since = h('input', { type: 'datetime-local', id: 'audit-since', value: toLocal(f.since) });
  const until = h('input', { type: 'datetime-local', id: 'audit-until', value: toLocal(f.until) });
  const lim = h('select', { id: 'audit-limit' }, limits.map((n) => h('option', { value: String(n), selected: n === limit }, `${n} rows`)));
  const seen = [...new Set(res.items.map((r) => r.action))].sort();
  const form = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Filter the audit log' },
    field('Who', actor), field('Action', action), field('Target', target), field('From', since), field('Until', until), field('Show', lim),
    h('datalist', { id: 'audit-actions' }, seen.map((a) => h('option', { value: a }))),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'),
    Object.values(f).some(Boolean) ? h('a', { href: '#/audit' }, 'Clear filters') : null);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    ctx.go('#/audit' + api.query({ actor: actor.value.trim(), action: action.value.trim(), target: target.value.trim(), since: fromLocal(since.value), until: fromLocal(until.value), limit: limit === 100 && lim.value === '100' ? '' : lim.value }));
  });
  lim.addEventListener('change', () => form.requestSubmit());

  // Who, action and target link to the log filtered by them.
  const only = (k, v) => h('a', { href: '#/audit' + api.query({ ...f, [k]: v }), title: `Only entries with this ${k}` }, v);
  const rows = res.items.map((r) => h('tr', { dataset: { auditAction: r.action } },
    h('td', { class: 'nowrap' }, h('time', { datetime: r.at, title: r.at }, when(r.at))),
    h('td', {}, only('actor', r.actor)),
    h('td', {}, h('code', {}, only('action', r.action))),
    h('td', {}, r.target ? only('target', r.target) : ''),
    h('td', {}, r.detail),
    h('td', { class: 'hide-narrow' }, r.remote_addr || h('span', { class: 'muted', title: 'no address recorded: the command line or the server itself' }, '—'))));
  put(main, 
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Audit log'),
      h('p', {}, `${res.total} entr${res.total === 1 ? 'y' : 'ies'}, newest first; who, action and target match exactly. The log is append-only.`))),
    form,
    h('div', { class: 'table-wrap' }, h('table', { class: 'audit' },
      h('thead', {}, h('tr', {}, ['When', 'Who', 'Action', 'Target', 'Detail'].map((t) => h('th', { scope: 'col' }, t)), h('th', { scope: 'col', class: 'hide-narrow' }, 'From'))),
      h('tbody', {}, rows.length ? rows : emptyRow(6, 'No entry matches.')))),
    pager(offset, limit, res.total, (o) => ctx.go('#/audit' + api.query({ ...f, limit: limit === 100 ? '' : limit, offset: o || '' }))));
}
