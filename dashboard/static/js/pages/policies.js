// Policies (admin): the list, and a form per policy (#/policies/ID, or
// #/policies/new) grouped like the EASProvisionDoc (MS-ASPROV 2.2.2.28):
// passwords, device security, sync and attachments, device features,
// applications, S/MIME. The checks mirror policy.Validate on the server;
// the server's own messages ("Field: problem; …") are shown next to their
// fields too.

import * as api from '../api.js';
import { h, put, say, field, fieldError, busy, emptyRow } from '../dom.js';

// Setting kinds: bool; int (required number in [min, max]); opt (number or
// empty = no limit, "OrEmpty" in MS-ASPROV); choice (select of values);
// list (one entry per line).
const U32 = 4294967295;
const groups = [
  ['Passwords', [
    ['DevicePasswordEnabled', 'bool', 'Require a device password', '2.2.2.25'],
    ['AlphanumericDevicePasswordRequired', 'bool', 'Require letters and numbers', '2.2.2.20'],
    ['AllowSimpleDevicePassword', 'bool', 'Allow simple passwords (1111, 1234)', '2.2.2.12'],
    ['MinDevicePasswordLength', 'opt', 'Minimum password length', '2.2.2.38', { min: 1, max: 16, hint: '1–16 characters; empty: no minimum.' }],
    ['MinDevicePasswordComplexCharacters', 'int', 'Character sets required', '2.2.2.37', { min: 1, max: 4, hint: '1–4 of: lower case, upper case, digits, symbols.' }],
    ['MaxDevicePasswordFailedAttempts', 'opt', 'Wipe after failed attempts', '2.2.2.32', { min: 4, max: 16, hint: '4–16; empty: never wipe.' }],
    ['DevicePasswordExpiration', 'opt', 'Password expires after (days)', '2.2.2.26', { min: 0, max: U32, hint: '0 or empty: never.' }],
    ['DevicePasswordHistory', 'int', 'Remembered old passwords', '2.2.2.27', { min: 0, max: U32, hint: '0: any old password may be reused.' }],
    ['MaxInactivityTimeDeviceLock', 'opt', 'Lock after inactivity (seconds)', '2.2.2.36', { min: 0, max: U32, hint: 'Empty or 9999 and above: no limit.' }],
    ['PasswordRecoveryEnabled', 'bool', 'Keep a recovery password on the server', '2.2.2.39'],
  ]],
  ['Device security', [
    ['RequireDeviceEncryption', 'bool', 'Require device encryption', '2.2.2.46'],
    ['RequireStorageCardEncryption', 'bool', 'Require storage card encryption', '2.2.2.53'],
    ['AllowNonProvisionableDevices', 'bool', 'Allow devices that cannot apply policies', 'server setting'],
    ['RefreshIntervalHours', 'int', 'Re-provision every (hours)', 'server setting', { min: 0, max: 2147483647, hint: '0: never.' }],
  ]],
  ['Sync and attachments', [
    ['AttachmentsEnabled', 'bool', 'Allow attachments', '2.2.2.23'],
    ['MaxAttachmentSize', 'opt', 'Largest attachment (bytes)', '2.2.2.30', { min: 0, max: U32, hint: 'Empty: no limit.' }],
    ['AllowHTMLEmail', 'bool', 'Allow HTML mail', '2.2.2.7'],
    ['MaxEmailAgeFilter', 'choice', 'Mail to sync at most', '2.2.2.33', { options: [[0, 'All'], [1, '1 day'], [2, '3 days'], [3, '1 week'], [4, '2 weeks'], [5, '1 month']] }],
    ['MaxCalendarAgeFilter', 'choice', 'Calendar to sync at most', '2.2.2.31', { options: [[0, 'All'], [4, '2 weeks'], [5, '1 month'], [6, '3 months'], [7, '6 months']] }],
    ['MaxEmailBodyTruncationSize', 'opt', 'Plain-text body limit (KB)', '2.2.2.34', { min: -1, max: 2147483647, hint: 'Empty or -1: no limit; 0: headers only.' }],
    ['MaxEmailHTMLBodyTruncationSize', 'opt', 'HTML body limit (KB)', '2.2.2.35', { min: -1, max: 2147483647, hint: 'Empty or -1: no limit; 0: headers only.' }],
    ['RequireManualSyncWhenRoaming', 'bool', 'Sync manually when roaming', '2.2.2.49'],
  ]],
  ['Device features', [
    ['AllowStorageCard', 'bool', 'Storage card', '2.2.2.15'],
    ['AllowCamera', 'bool', 'Camera', '2.2.2.4'],
    ['AllowWifi', 'bool', 'Wi-Fi', '2.2.2.19'],
    ['AllowBluetooth', 'choice', 'Bluetooth', '2.2.2.2', { options: [[2, 'Allowed'], [1, 'Hands-free only'], [0, 'Disabled']] }],
    ['AllowIrDA', 'bool', 'Infrared', '2.2.2.9'],
    ['AllowInternetSharing', 'bool', 'Internet sharing', '2.2.2.8'],
    ['AllowRemoteDesktop', 'bool', 'Remote desktop', '2.2.2.11'],
    ['AllowDesktopSync', 'bool', 'Desktop sync', '2.2.2.6'],
    ['AllowTextMessaging', 'bool', 'Text messaging', '2.2.2.16'],
    ['AllowPOPIMAPEmail', 'bool', 'POP and IMAP mail', '2.2.2.10'],
    ['AllowConsumerEmail', 'bool', 'Consumer mail accounts', '2.2.2.5'],
    ['AllowBrowser', 'bool', 'Browser', '2.2.2.3'],
  ]],
  ['Applications', [
    ['AllowUnsignedApplications', 'bool', 'Allow unsigned applications', '2.2.2.17'],
    ['AllowUnsignedInstallationPackages', 'bool', 'Allow unsigned installation packages', '2.2.2.18'],
    ['ApprovedApplicationList', 'list', 'Approved applications (SHA-1 hashes)', '2.2.2.22', { hint: 'One 40-digit hex hash per line.' }],
    ['UnapprovedInROMApplicationList', 'list', 'Blocked built-in applications', '2.2.2.55', { hint: 'One application name per line.' }],
  ]],
  ['S/MIME', [
    ['RequireSignedSMIMEMessages', 'bool', 'Require signed messages', '2.2.2.51'],
    ['RequireSignedSMIMEAlgorithm', 'choice', 'Signing algorithm', '2.2.2.50', { options: [[0, 'SHA-1'], [1, 'MD5']] }],
    ['RequireEncryptedSMIMEMessages', 'bool', 'Require encrypted messages', '2.2.2.47'],
    ['RequireEncryptionSMIMEAlgorithm', 'choice', 'Encryption algorithm', '2.2.2.48', { options: [[0, 'TripleDES'], [1, 'DES'], [2, 'RC2 128-bit'], [3, 'RC2 64-bit'], [4, 'RC2 40-bit']] }],
    ['AllowSMIMEEncryptionAlgorithmNegotiation', 'choice', 'Algorithm negotiation', '2.2.2.13', { options: [[2, 'Any algorithm'], [1, 'Strong algorithms only'], [0, 'Not allowed']] }],
    ['AllowSMIMESoftCerts', 'bool', 'Allow soft certificates', '2.2.2.14'],
  ]],
];

const settings = groups.flatMap(([, list]) => list);

/**
 * check validates one setting's input value like policy.Validate; it
 * returns [value, error].
 */
export function check(kind, raw, o = {}) {
  if (kind === 'bool') return [!!raw, ''];
  if (kind === 'choice') return [Number(raw), ''];
  if (kind === 'list') {
    const lines = String(raw).split('\n').map((s) => s.trim()).filter(Boolean);
    if (o.hex) {
      const bad = lines.find((l) => !/^[0-9a-fA-F]{40}$/.test(l));
      if (bad !== undefined) return [lines, `“${bad}” is not a hex SHA-1 hash (40 hex digits).`];
    }
    return [lines, ''];
  }
  const s = String(raw).trim();
  if (s === '') return kind === 'opt' ? [null, ''] : [null, 'Enter a number.'];
  if (!/^-?[0-9]+$/.test(s)) return [null, 'Enter a whole number.'];
  const n = Number(s);
  if (n < o.min || n > o.max) return [null, `${n} is outside ${o.min}–${o.max}.`];
  return [n, ''];
}

function control(name, kind, label, o, value) {
  const id = 'pol-' + name;
  if (kind === 'bool') {
    const box = h('input', { type: 'checkbox', id, checked: !!value });
    return { box, get: () => box.checked, el: h('div', { class: 'check-field' }, h('div', { class: 'check' }, box, h('label', { for: id }, label)), h('p', { class: 'field-error', id: id + '-error', hidden: true })) };
  }
  if (kind === 'choice') {
    const sel = h('select', { id }, o.options.map(([v, t]) => h('option', { value: String(v), selected: v === value }, t)));
    return { box: sel, get: () => sel.value, el: field(label, sel) };
  }
  if (kind === 'list') {
    const ta = h('textarea', { id, rows: 3, spellcheck: 'false' });
    ta.value = (value || []).join('\n');
    return { box: ta, get: () => ta.value, el: field(label, ta, o.hint) };
  }
  const input = h('input', { id, inputmode: 'numeric', autocomplete: 'off', value: value === null || value === undefined ? '' : String(value), class: 'num-input' });
  return { box: input, get: () => input.value, el: field(label, input, o.hint) };
}

async function renderList(main, ctx) {
  const res = await api.get('/policies');
  if (ctx.stale()) return;
  const rows = res.items.map((p) => h('tr', { dataset: { policyId: String(p.id) } },
    h('td', {}, h('a', { href: `#/policies/${p.id}` }, p.name)),
    h('td', { class: 'num' }, String(p.version)),
    h('td', {}, p.settings.DevicePasswordEnabled ? `password of ${p.settings.MinDevicePasswordLength ?? 'any'}+ characters` : 'no password'),
    h('td', {}, p.settings.RequireDeviceEncryption ? 'encryption required' : '—')));
  put(main, 
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Policies'), h('p', {}, 'Mobile device mailbox policies: what devices must enforce. A change makes every device of its users provision again.')),
      h('a', { class: 'button primary', href: '#/policies/new', id: 'policy-new' }, 'New policy')),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col', class: 'num' }, 'Version'), h('th', { scope: 'col' }, 'Password'), h('th', { scope: 'col' }, 'Encryption'))),
      h('tbody', {}, rows.length ? rows : emptyRow(4, 'No policies.')))));
}

async function renderForm(main, ctx) {
  const isNew = ctx.id === 'new';
  let pol;
  if (isNew) {
    // The server's defaults are those of the Default policy when no setting is sent; start from them.
    const list = await api.get('/policies');
    const def = list.items.find((p) => p.name === 'Default') || list.items[0];
    pol = { id: 0, name: '', version: 0, settings: def ? def.settings : {} };
  } else {
    try {
      pol = await api.get(`/policies/${api.enc(ctx.id)}`);
    } catch (e) {
      if (e.status !== 404) throw e;
      put(main, h('h1', {}, 'Policy not found'), h('p', {}, h('a', { href: '#/policies' }, 'Back to policies.')));
      return;
    }
  }
  if (ctx.stale()) return;
  const controls = new Map();
  const name = h('input', { id: 'pol-Name', value: pol.name, maxlength: 256, autocomplete: 'off', required: true, disabled: !isNew });
  const fieldsets = groups.map(([title, list]) => h('fieldset', {}, h('legend', {}, title),
    list.map(([key, kind, label, , o = {}]) => {
      const c = control(key, kind, label, o, pol.settings[key]);
      controls.set(key, { ...c, kind, o: { ...o, hex: key === 'ApprovedApplicationList' } });
      return c.el;
    })));
  const save = h('button', { type: 'submit', class: 'primary', id: 'policy-save' }, isNew ? 'Create policy' : 'Save changes');
  const summary = h('div', { id: 'policy-errors', class: 'notice error', tabindex: '-1', hidden: true });
  const form = h('form', { novalidate: true, 'aria-labelledby': 'policy-h' },
    summary,
    h('div', { class: 'panel policy-name' }, field('Name', name, isNew ? 'A policy cannot be renamed later.' : 'Policies cannot be renamed.')),
    h('div', { class: 'policy-groups' }, fieldsets),
    h('div', { class: 'form-actions' }, save, h('a', { class: 'button', href: '#/policies' }, 'Cancel')));

  const showErrors = (errs) => {
    for (const [, c] of controls) fieldError(c.box, '');
    fieldError(name, '');
    const general = [];
    for (const [key, msg] of errs) {
      const c = key === 'Name' ? { box: name } : controls.get(key);
      if (c) fieldError(c.box, msg);
      else general.push(key ? `${key}: ${msg}` : msg);
    }
    if (errs.length) {
      summary.replaceChildren();
      put(summary, h('p', {}, `${errs.length} setting${errs.length === 1 ? ' needs' : 's need'} attention; see the messages next to the fields.`),
        general.length ? h('ul', {}, general.map((g) => h('li', {}, g))) : null);
      summary.hidden = false;
      const first = errs.map(([k]) => (k === 'Name' ? name : controls.get(k)?.box)).find(Boolean);
      (first || summary).focus();
    } else {
      summary.hidden = true;
    }
  };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const out = {};
    const errs = [];
    if (isNew && !name.value.trim()) errs.push(['Name', 'Enter a name.']);
    for (const [key, c] of controls) {
      const [v, err] = check(c.kind, c.get(), c.o);
      if (err) errs.push([key, err]);
      else out[key] = v;
    }
    showErrors(errs);
    if (errs.length) return;
    await busy(save, async () => {
      try {
        const np = isNew
          ? await api.post('/policies', { name: name.value.trim(), settings: out })
          : await api.put(`/policies/${pol.id}`, { settings: out });
        say(isNew ? `Created the policy ${np.name}.` : `Saved ${np.name}: now version ${np.version}. Its users' devices provision again.`, 'ok');
        ctx.go(`#/policies/${np.id}`);
      } catch (e) {
        // The server's validation message: "Field: problem; Field: problem".
        const parts = e.message.split('; ').map((m) => {
          const i = m.indexOf(': ');
          const key = i > 0 ? m.slice(0, i) : '';
          return key && (controls.has(key) || key === 'Name') ? [key, m.slice(i + 2)] : ['', m];
        });
        if (e.code === 'already_exists') parts.splice(0, parts.length, ['Name', 'A policy with this name exists.']);
        showErrors(parts);
        say(`The server refused the policy: ${e.message}`, 'error');
      }
    });
  });

  put(main, 
    h('p', { class: 'crumbs' }, h('a', { href: '#/policies' }, '‹ Policies')),
    h('div', { class: 'page-head' }, h('div', {}, h('h1', { id: 'policy-h' }, isNew ? 'New policy' : pol.name),
      h('p', {}, isNew ? 'Settings start from the Default policy.' : `Version ${pol.version}. Saving makes a new version.`))),
    form);
}

export async function render(main, ctx) {
  if (ctx.id) return renderForm(main, ctx);
  return renderList(main, ctx);
}

export { settings };
