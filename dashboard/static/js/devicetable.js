// The device table shared by the quarantine and device pages: one row per
// partnership (tr[data-device-id]), a checkbox per row (input[data-select])
// with select-all, one-click approve and block (button[data-action]) and
// bulk buttons (#bulk-approve, #bulk-block). Every change is shown as the
// server confirmed it: the row is redrawn from the API's answer.

import * as api from './api.js';
import { h, say, stateBadge, timeEl, deviceName, emptyRow, busy } from './dom.js';

/**
 * canDecide says whether the role may allow or block d (helpdesk:
 * quarantined devices only). A wiped device stays blocked until an
 * administrator removes it: nobody decides for it.
 */
export function canDecide(d, isAdmin) {
  if (d.wipe_state === 'acknowledged') return false;
  return isAdmin || d.access_state === 'quarantined';
}

// reasonShort says in a word or two why a row has its access state (store.Reason…).
const reasonShort = { default: 'by default', rule: 'by a rule', 'user-list': 'by the user\'s list', individual: 'individual', wipe: 'wiped' };

const verbs = {
  approve: { path: 'allow', done: 'Approved', doing: 'approve', state: 'allowed' },
  block: { path: 'block', done: 'Blocked', doing: 'block', state: 'blocked' },
};

/**
 * deviceTable renders devices into a table with actions. opts: isAdmin;
 * sort ({key, dir}), sortable (keys: model, user, state, first_seen, last_seen) and
 * onSort(key) for sortable headings; onChanged(d)
 * after the server confirmed a change; removeWhen(d) drops a changed row
 * (the quarantine queue drops approved and blocked devices); showUser
 * false leaves out the User column (a user's own page).
 */
export function deviceTable(devices, opts) {
  const { isAdmin, sort, onSort, sortable = [], onChanged = () => {}, removeWhen = () => false, emptyText = 'No devices.', showUser = true } = opts;
  const tbody = h('tbody');
  const selectAll = h('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'Select all devices on this page' });
  const bulkApprove = h('button', { type: 'button', id: 'bulk-approve', class: 'approve', disabled: true }, 'Approve selected');
  const bulkBlock = h('button', { type: 'button', id: 'bulk-block', class: 'danger-ghost', disabled: true }, 'Block selected');
  const selCount = h('span', { class: 'muted', 'aria-live': 'polite' });
  const byId = new Map(devices.map((d) => [String(d.id), d]));

  const checks = () => [...tbody.querySelectorAll('input[data-select]')];
  const selected = () => checks().filter((c) => c.checked).map((c) => byId.get(c.dataset.select)).filter(Boolean);
  const refreshBulk = () => {
    const sel = selected();
    const all = checks();
    bulkApprove.disabled = !sel.some((d) => d.access_state !== 'allowed');
    bulkBlock.disabled = !sel.some((d) => d.access_state !== 'blocked');
    selCount.textContent = sel.length ? `${sel.length} selected` : '';
    selectAll.checked = all.length > 0 && sel.length === all.length;
    selectAll.indeterminate = sel.length > 0 && sel.length < all.length;
  };
  selectAll.addEventListener('change', () => {
    for (const c of checks()) c.checked = selectAll.checked;
    refreshBulk();
  });

  // act asks the server and returns the device as it now is, or throws.
  const act = (d, verb) => api.post(`/devices/${d.id}/${verbs[verb].path}`);

  const applied = (d, nd) => {
    byId.set(String(nd.id), { ...nd });
    const tr = tbody.querySelector(`tr[data-device-id="${nd.id}"]`);
    if (removeWhen(nd)) tr?.remove();
    else tr?.replaceWith(row(byId.get(String(nd.id))));
    if (!tbody.querySelector('tr[data-device-id]')) tbody.replaceChildren(emptyRow(cols, emptyText));
    onChanged(nd);
  };

  const one = async (btn, d, verb) => {
    await busy(btn, async () => {
      try {
        const nd = await act(d, verb);
        applied(d, nd);
        say(`${verbs[verb].done} ${deviceName(nd)} (${nd.device_id}) of ${nd.address}: the server reports it ${nd.access_state}.`, 'ok');
      } catch (e) {
        say(`Could not ${verbs[verb].doing} ${deviceName(d)} (${d.device_id}): ${e.message}`, 'error');
      }
    });
    refreshBulk();
  };

  const bulk = async (btn, verb) => {
    const targets = selected().filter((d) => d.access_state !== verbs[verb].state);
    if (!targets.length) return;
    await busy(btn, async () => {
      let ok = 0;
      const failed = [];
      for (const d of targets) {
        try {
          applied(d, await act(d, verb));
          ok++;
        } catch (e) {
          failed.push(`${deviceName(d)} (${d.device_id}): ${e.message}`);
        }
      }
      const done = `${verbs[verb].done} ${ok} of ${targets.length} device${targets.length === 1 ? '' : 's'}.`;
      if (failed.length) say(`${done} Failed: ${failed.join('; ')}`, 'error');
      else say(done, 'ok');
    });
    refreshBulk();
  };
  bulkApprove.addEventListener('click', () => bulk(bulkApprove, 'approve'));
  bulkBlock.addEventListener('click', () => bulk(bulkBlock, 'block'));

  const approveText = (d) => (d.access_state === 'quarantined' ? 'Approve' : 'Allow');
  const row = (d) => {
    const name = deviceName(d);
    const label = `${name} (${d.device_id}) of ${d.address}`;
    const decide = canDecide(d, isAdmin);
    const cells = [
      h('td', { class: 'sel' }, decide ? h('input', { type: 'checkbox', dataset: { select: String(d.id) }, 'aria-label': `Select ${label}`, onchange: refreshBulk }) : null),
      h('td', { class: 'device-cell' }, h('a', { href: `#/devices/${d.id}`, title: name }, name), h('span', { class: 'sub' }, [d.model && d.model !== name ? d.model : null, d.os].filter(Boolean).join(' · ') || d.device_type)),
      showUser ? h('td', { class: 'user-cell' }, h('a', { href: `#/users/${api.enc(d.address)}`, title: d.address }, d.address)) : null,
      h('td', { class: 'hide-narrow' }, h('code', {}, d.device_id), h('span', { class: 'sub' }, d.device_type)),
      h('td', {}, stateBadge(d), d.access_reason ? h('span', { class: 'sub' }, reasonShort[d.access_reason] || d.access_reason) : null),
      h('td', { class: 'hide-narrow' }, timeEl(d.first_seen)),
      h('td', {}, timeEl(d.last_seen)),
      h('td', { class: 'actions-cell' },
        // Approve answers the quarantine; a blocked device is allowed again.
        decide && d.access_state !== 'allowed'
          ? h('button', { type: 'button', class: 'approve small', dataset: { action: 'approve' }, 'aria-label': `${approveText(d)} ${label}`, onclick: (ev) => one(ev.currentTarget, byId.get(String(d.id)), 'approve') }, approveText(d)) : null,
        decide && d.access_state !== 'blocked'
          ? h('button', { type: 'button', class: 'danger-ghost small', dataset: { action: 'block' }, 'aria-label': `Block ${label}`, onclick: (ev) => one(ev.currentTarget, byId.get(String(d.id)), 'block') }, 'Block') : null),
    ];
    return h('tr', { dataset: { deviceId: String(d.id), state: d.access_state } }, cells);
  };

  const heading = (key, text, cls) => {
    if (!onSort || !sortable.includes(key)) return h('th', { scope: 'col', class: cls }, text);
    const dir = sort && sort.key === key ? sort.dir : null;
    return h('th', { scope: 'col', class: cls, 'aria-sort': dir ? (dir === 'asc' ? 'ascending' : 'descending') : 'none' },
      h('button', { type: 'button', class: 'sort', dataset: { sort: key }, onclick: () => onSort(key) }, text, dir ? (dir === 'asc' ? ' ▲' : ' ▼') : ''));
  };
  const cols = showUser ? 8 : 7;
  const table = h('table', {},
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', class: 'sel' }, selectAll),
      heading('model', 'Device'), showUser ? heading('user', 'User') : null, heading('device_id', 'DeviceId', 'hide-narrow'),
      heading('state', 'State'), heading('first_seen', 'First seen', 'hide-narrow'), heading('last_seen', 'Last sync'),
      h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
    tbody);
  if (devices.length) tbody.append(...devices.map(row));
  else tbody.append(emptyRow(cols, emptyText));
  refreshBulk();
  const bar = h('div', { class: 'bulkbar' }, bulkApprove, bulkBlock, selCount);
  return { bar, table: h('div', { class: 'table-wrap' }, table) };
}
