// Outbound queue (admin): messages waiting for delivery or that failed,
// each recipient with its status, attempts and last error.

import * as api from '../api.js';
import { h, put, when, bytes, badge, emptyRow } from '../dom.js';

const statusKind = { delivered: 'ok', sent: 'ok', queued: 'info', pending: 'info', deferred: 'warn', failed: 'bad', bounced: 'bad' };

export async function render(main, ctx) {
  const res = await api.get('/outbound?limit=200');
  if (ctx.stale()) return;
  const rows = res.items.map((m) => h('tr', { dataset: { outboundId: String(m.id) } },
    h('td', {}, when(m.created_at)),
    h('td', {}, m.envelope_from, h('span', { class: 'sub' }, h('code', {}, m.message_id))),
    h('td', {}, h('ul', { class: 'recipients' }, m.recipients.map((r) => h('li', {},
      r.address, ' ', badge(r.status, statusKind[r.status] || 'info'), r.local ? h('span', { class: 'muted' }, ' local') : null,
      r.attempts ? h('span', { class: 'muted' }, ` · ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}`) : null,
      r.last_error ? h('span', { class: 'sub' }, r.last_error) : null)))),
    h('td', { class: 'num' }, bytes(m.size))));
  put(main, 
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Outbound queue'), h('p', {}, `${res.total} message${res.total === 1 ? '' : 's'} in the queue.`)),
      h('button', { type: 'button', class: 'ghost', onclick: () => ctx.rerender() }, 'Refresh')),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Queued'), h('th', { scope: 'col' }, 'From'), h('th', { scope: 'col' }, 'Recipients'), h('th', { scope: 'col', class: 'num' }, 'Size'))),
      h('tbody', {}, rows.length ? rows : emptyRow(4, 'The queue is empty: every message was delivered.')))));
}
