// Users: search, create, and per user (#/users/ADDRESS): enable or
// disable, protocols, password reset, policy assignment and the user's
// devices. Helpdesk agents see everything but change nothing here.

import * as api from '../api.js';
import { h, put, say, field, fieldError, busy, pager, when, badge, emptyRow, confirm } from '../dom.js';
import { deviceTable } from '../devicetable.js';

const limit = 50;
const protocols = [['eas', 'ActiveSync'], ['imap', 'IMAP'], ['pop3', 'POP3'], ['smtp', 'SMTP submission']];

function protoText(u) {
  const on = protocols.filter(([k]) => u.protocols[k]).map(([, t]) => t);
  return on.length ? on.join(', ') : 'none';
}

/** placeError shows an API error next to the field it is about, or in #status. */
function placeError(e, fields, fallback) {
  const msg = e.message || String(e);
  for (const [word, control] of fields) {
    if (msg.toLowerCase().includes(word)) {
      fieldError(control, msg);
      control.focus();
      return;
    }
  }
  say(`${fallback}: ${msg}`, 'error');
}

function createForm(ctx) {
  const address = h('input', { type: 'email', id: 'new-address', autocomplete: 'off', required: true, maxlength: 320 });
  const display = h('input', { id: 'new-name', autocomplete: 'off', maxlength: 256 });
  const password = h('input', { type: 'password', id: 'new-password', autocomplete: 'new-password', required: true });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'create-user' }, 'Create user');
  const form = h('form', { class: 'panel', novalidate: true, 'aria-labelledby': 'create-h' },
    h('h2', { id: 'create-h' }, 'New user'),
    h('div', { class: 'inline-form' },
      field('Email address', address), field('Display name', display), field('Password', password), submit));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const c of [address, display, password]) fieldError(c, '');
    let bad = false;
    if (!/^[^\s@]+@[^\s@]+$/.test(address.value.trim())) { fieldError(address, 'Enter an address like alice@example.com.'); bad = true; }
    if (!password.value) { fieldError(password, 'Enter a password.'); bad = true; }
    if (bad) { form.querySelector('[aria-invalid="true"]').focus(); return; }
    await busy(submit, async () => {
      try {
        const u = await api.post('/users', { address: address.value.trim(), display_name: display.value.trim(), password: password.value });
        say(`Created ${u.address}.`, 'ok');
        ctx.go(`#/users/${api.enc(u.address)}`);
      } catch (e) {
        placeError(e, [['address', address], ['exists', address], ['password', password], ['name', display]], 'Could not create the user');
      }
    });
  });
  return form;
}

async function renderList(main, ctx) {
  const q = ctx.params.get('q') || '';
  const offset = Math.max(0, Number(ctx.params.get('offset')) || 0);
  const res = await api.get('/users' + api.query({ q, limit, offset }));
  if (ctx.stale()) return;
  const search = h('input', { type: 'search', id: 'user-search', value: q, placeholder: 'Name or address', autocomplete: 'off' });
  const form = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Search users' }, field('Search users', search), h('button', { type: 'submit', class: 'primary' }, 'Search'),
    q ? h('a', { href: '#/users' }, 'Clear') : null);
  form.addEventListener('submit', (ev) => { ev.preventDefault(); ctx.go('#/users' + api.query({ q: search.value.trim() })); });
  const rows = res.items.map((u) => h('tr', { dataset: { address: u.address } },
    h('td', {}, h('a', { href: `#/users/${api.enc(u.address)}` }, u.address), h('span', { class: 'sub' }, u.display_name || 'no display name')),
    h('td', {}, u.disabled ? badge('disabled') : badge('enabled', 'ok')),
    h('td', { class: 'hide-narrow' }, protoText(u)),
    h('td', { class: 'hide-narrow' }, when(u.created_at))));
  put(main, 
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Users'), h('p', {}, `${res.total} user${res.total === 1 ? '' : 's'}${q ? ` match “${q}”` : ''}.`))),
    ctx.isAdmin ? createForm(ctx) : null,
    form,
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'User'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col', class: 'hide-narrow' }, 'Protocols'), h('th', { scope: 'col', class: 'hide-narrow' }, 'Created'))),
      h('tbody', {}, rows.length ? rows : emptyRow(4, q ? 'No user matches.' : 'No users yet.')))),
    pager(offset, limit, res.total, (o) => ctx.go('#/users' + api.query({ q, offset: o || '' }))));
}

async function renderUser(main, ctx) {
  const address = ctx.id;
  let u;
  try {
    u = await api.get(`/users/${api.enc(address)}`);
  } catch (e) {
    if (e.status !== 404) throw e;
    put(main, h('h1', {}, 'User not found'), h('p', {}, `There is no user ${address}. `, h('a', { href: '#/users' }, 'Back to users.')));
    return;
  }
  const [devs, pol, policies] = await Promise.all([
    api.get('/devices' + api.query({ user: u.address, limit: 100 })),
    api.get(`/users/${api.enc(u.address)}/policy`).catch((e) => { if (e.status === 404) return null; throw e; }),
    ctx.isAdmin ? api.get('/policies') : Promise.resolve(null),
  ]);
  if (ctx.stale()) return;
  const admin = ctx.isAdmin;
  const path = `/users/${api.enc(u.address)}`;

  // Enable / disable.
  const toggle = h('button', { type: 'button', id: 'user-toggle', class: u.disabled ? 'approve' : 'danger-ghost' }, u.disabled ? 'Enable user' : 'Disable user');
  toggle.addEventListener('click', async () => {
    if (!u.disabled && !(await confirm({ title: `Disable ${u.address}?`, body: [h('p', {}, 'The user can no longer log in with any protocol or sync any device until enabled again.')], ok: 'Disable user' }))) return;
    await busy(toggle, async () => {
      try {
        const nu = await api.post(`${path}/${u.disabled ? 'enable' : 'disable'}`);
        say(`${nu.address} is now ${nu.disabled ? 'disabled' : 'enabled'}.`, 'ok');
        ctx.rerender();
      } catch (e) { say(`Could not change ${u.address}: ${e.message}`, 'error'); }
    });
  });

  // Protocols.
  const boxes = protocols.map(([k, t]) => {
    const box = h('input', { type: 'checkbox', id: `proto-${k}`, checked: !!u.protocols[k], disabled: !admin });
    return { k, box, el: h('div', { class: 'check' }, box, h('label', { for: `proto-${k}` }, t)) };
  });
  const saveProto = h('button', { type: 'submit', class: 'primary' }, 'Save protocols');
  const protoForm = h('form', { class: 'panel', 'aria-labelledby': 'proto-h' }, h('h2', { id: 'proto-h' }, 'Protocols'),
    h('fieldset', { class: 'plain' }, h('legend', { class: 'sr-only' }, 'Protocols this user may use'), boxes.map((b) => b.el)),
    admin ? saveProto : null);
  protoForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const { k, box } of boxes) body[k] = box.checked;
    await busy(saveProto, async () => {
      try {
        const nu = await api.patch(`${path}/protocols`, body);
        say(`Saved: ${nu.address} may use ${protoText(nu)}.`, 'ok');
        ctx.rerender();
      } catch (e) { say(`Could not save protocols: ${e.message}`, 'error'); }
    });
  });

  // Password reset.
  const pw = h('input', { type: 'password', id: 'reset-password', autocomplete: 'new-password' });
  const pw2 = h('input', { type: 'password', id: 'reset-password2', autocomplete: 'new-password' });
  const pwBtn = h('button', { type: 'submit', class: 'primary' }, 'Set password');
  const pwForm = h('form', { class: 'panel', novalidate: true, 'aria-labelledby': 'pw-h' }, h('h2', { id: 'pw-h' }, 'Reset password'),
    h('input', { type: 'text', autocomplete: 'username', value: u.address, hidden: true, readonly: true, tabindex: '-1', 'aria-hidden': 'true' }),
    field('New password', pw), field('Repeat the new password', pw2), pwBtn);
  pwForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fieldError(pw, ''); fieldError(pw2, '');
    if (!pw.value) { fieldError(pw, 'Enter a password.'); pw.focus(); return; }
    if (pw.value !== pw2.value) { fieldError(pw2, 'The two passwords differ.'); pw2.focus(); return; }
    await busy(pwBtn, async () => {
      try {
        await api.post(`${path}/password`, { password: pw.value });
        pw.value = ''; pw2.value = '';
        say(`The server set a new password for ${u.address}.`, 'ok');
      } catch (e) { placeError(e, [['password', pw]], 'Could not set the password'); }
    });
  });

  // Policy.
  let policyPanel;
  if (admin && policies) {
    const sel = h('select', { id: 'user-policy' }, policies.items.map((p) => h('option', { value: String(p.id), selected: pol && p.id === pol.id }, `${p.name} (version ${p.version})`)));
    const assign = h('button', { type: 'submit', class: 'primary' }, 'Assign policy');
    policyPanel = h('form', { class: 'panel', 'aria-labelledby': 'pol-h' }, h('h2', { id: 'pol-h' }, 'Policy'),
      field('Mobile device policy', sel, 'Devices of this user must provision again when the policy changes.'), assign);
    policyPanel.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      await busy(assign, async () => {
        try {
          const np = await api.put(`${path}/policy`, { policy_id: Number(sel.value) });
          say(`${u.address} now has the policy ${np.name} (version ${np.version}).`, 'ok');
          ctx.rerender();
        } catch (e) { say(`Could not assign the policy: ${e.message}`, 'error'); }
      });
    });
  } else {
    policyPanel = h('section', { class: 'panel', 'aria-labelledby': 'pol-h' }, h('h2', { id: 'pol-h' }, 'Policy'),
      h('p', {}, pol ? `${pol.name} (version ${pol.version})` : 'None'));
  }

  const { bar, table } = deviceTable(devs.items, { isAdmin: admin, showUser: false, emptyText: `${u.address} has no devices.`, onChanged: () => {} });
  put(main, 
    h('p', { class: 'crumbs' }, h('a', { href: '#/users' }, '‹ Users')),
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, u.display_name || u.address), h('p', {}, u.address, ' · ', u.disabled ? badge('disabled') : badge('enabled', 'ok'), ` · created ${when(u.created_at)}`)),
      admin ? h('div', { class: 'actions' }, toggle) : null),
    h('section', { 'aria-labelledby': 'dev-h' }, h('h2', { id: 'dev-h' }, `Devices (${devs.total})`), bar, table),
    h('div', { class: 'grid user-forms' }, protoForm, policyPanel, admin ? pwForm : null));
}

export async function render(main, ctx) {
  if (ctx.id) return renderUser(main, ctx);
  return renderList(main, ctx);
}
