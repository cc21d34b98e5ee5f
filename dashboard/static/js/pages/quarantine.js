// Quarantine queue: devices waiting for a decision, longest waiting first
// across pages (the API sorts by first_seen), with one-click approve or
// block and bulk actions.

import * as api from '../api.js';
import { h, put, pager, setQuarantineCount } from '../dom.js';
import { deviceTable } from '../devicetable.js';

const limit = 50;

export async function render(main, ctx) {
  const offset = Math.max(0, Number(ctx.params.get('offset')) || 0);
  const res = await api.get('/devices' + api.query({ state: 'quarantined', sort: 'first_seen', limit, offset }));
  if (ctx.stale()) return;
  let total = res.total;
  setQuarantineCount(total);
  const count = h('p', {});
  const setCount = () => {
    count.textContent = total === 0
      ? 'Nothing is waiting. New devices that need a decision appear here.'
      : `${total} device${total === 1 ? '' : 's'} waiting for a decision. Approve lets the device sync; block refuses it.`;
  };
  setCount();
  const { bar, table } = deviceTable(res.items, {
    isAdmin: ctx.isAdmin,
    emptyText: 'No devices are waiting in quarantine.',
    removeWhen: (d) => d.access_state !== 'quarantined',
    onChanged: (d) => {
      if (d.access_state !== 'quarantined') {
        total = Math.max(0, total - 1);
        setQuarantineCount(total);
        setCount();
      }
    },
  });
  put(main, 
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Quarantine'), count),
      h('button', { type: 'button', class: 'ghost', onclick: () => ctx.rerender() }, 'Refresh')),
    bar, table,
    total > limit ? pager(offset, limit, total, (o) => ctx.go(`#/quarantine?offset=${o}`)) : null);
}
