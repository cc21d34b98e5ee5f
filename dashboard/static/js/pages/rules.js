// Device access rules (admin): list, add, remove. A rule matches a new
// device's type, model, OS or user agent (exactly or by prefix) and
// decides its access state.

import * as api from '../api.js';
import { h, put, say, field, fieldError, busy, when, badge, emptyRow, confirm } from '../dom.js';

const fields = [['device-type', 'Device type'], ['model', 'Model'], ['os', 'Operating system'], ['user-agent', 'User agent']];
const matches = [['exact', 'is exactly'], ['prefix', 'starts with']];
const actions = [['quarantined', 'Quarantine'], ['allowed', 'Allow'], ['blocked', 'Block']];
const label = (list, v) => (list.find(([k]) => k === v) || [v, v])[1];

export async function render(main, ctx) {
  const res = await api.get('/rules');
  if (ctx.stale()) return;
  const opt = (list, def) => list.map(([v, t]) => h('option', { value: v, selected: v === def }, t));
  const fieldSel = h('select', { id: 'rule-field' }, opt(fields, 'model'));
  const matchSel = h('select', { id: 'rule-match' }, opt(matches, 'prefix'));
  const pattern = h('input', { id: 'rule-pattern', required: true, maxlength: 1024, autocomplete: 'off', placeholder: 'iPhone' });
  const actionSel = h('select', { id: 'rule-action' }, opt(actions, 'quarantined'));
  const add = h('button', { type: 'submit', class: 'primary', id: 'rule-add' }, 'Add rule');
  const form = h('form', { class: 'panel', novalidate: true, 'aria-labelledby': 'rule-new-h' },
    h('h2', { id: 'rule-new-h' }, 'New rule'),
    h('div', { class: 'inline-form' }, field('When the', fieldSel), field('Match', matchSel), field('Pattern', pattern), field('Then', actionSel), add));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fieldError(pattern, '');
    if (!pattern.value.trim()) { fieldError(pattern, 'Enter the text to match.'); pattern.focus(); return; }
    await busy(add, async () => {
      try {
        const r = await api.post('/rules', { field: fieldSel.value, match: matchSel.value, pattern: pattern.value, action: actionSel.value });
        say(`Added rule ${r.id}: ${label(fields, r.field)} ${label(matches, r.match)} “${r.pattern}” → ${r.action}.`, 'ok');
        ctx.rerender();
      } catch (e) {
        if (/pattern/i.test(e.message)) { fieldError(pattern, e.message); pattern.focus(); } else say(`Could not add the rule: ${e.message}`, 'error');
      }
    });
  });

  const rows = res.items.map((r) => {
    const del = h('button', { type: 'button', class: 'danger-ghost small', dataset: { action: 'remove-rule' }, 'aria-label': `Remove rule ${r.id}` }, 'Remove');
    del.addEventListener('click', async () => {
      if (!(await confirm({ title: `Remove rule ${r.id}?`, body: [h('p', {}, `${label(fields, r.field)} ${label(matches, r.match)} “${r.pattern}” → ${r.action}. Devices already decided keep their state.`)], ok: 'Remove rule' }))) return;
      await busy(del, async () => {
        try {
          await api.del(`/rules/${r.id}`);
          say(`Removed rule ${r.id}.`, 'ok');
          ctx.rerender();
        } catch (e) { say(`Could not remove rule ${r.id}: ${e.message}`, 'error'); }
      });
    });
    return h('tr', { dataset: { ruleId: String(r.id) } },
      h('td', {}, label(fields, r.field)), h('td', {}, label(matches, r.match)), h('td', {}, h('code', {}, r.pattern)),
      h('td', {}, badge(r.action)), h('td', { class: 'hide-narrow' }, `${r.created_by}, ${when(r.created_at)}`), h('td', { class: 'actions-cell' }, del));
  });
  put(main, 
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Device access rules'),
      h('p', {}, 'Rules decide a device\'s access unless an administrator decided for it individually. Matching ignores case; the most specific rule wins (an exact match beats a prefix, a longer prefix a shorter one; between equals: block, then quarantine, then allow). No match: the server\'s default.'))),
    form,
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Field', 'Match', 'Pattern', 'Action'].map((t) => h('th', { scope: 'col' }, t)), h('th', { scope: 'col', class: 'hide-narrow' }, 'Created'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
      h('tbody', {}, rows.length ? rows : emptyRow(6, 'No rules: every new device gets the default access.')))));
}
