// Small DOM helpers shared by the pages: an element builder, formatting,
// the status line and the confirmation dialog.

/**
 * h builds an element. attrs: plain attributes, except "class", "on…"
 * handlers (functions), "dataset" (object) and boolean properties
 * (checked, disabled, selected, hidden, required). Children are nodes,
 * strings (as text, never HTML) or arrays; null and false are skipped.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else if (['checked', 'disabled', 'selected', 'hidden', 'required', 'value', 'indeterminate'].includes(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** clear removes every child of el. */
export function clear(el) { el.replaceChildren(); }

let ids = 0;
/** uid returns a fresh element id with the given prefix. */
export function uid(prefix) { return `${prefix}-${++ids}`; }

const dateFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const yearFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** when formats an RFC 3339 time for people, the year only when it is not this one; "—" when absent. */
export function when(t) {
  if (!t) return '—';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.getFullYear() === new Date().getFullYear() ? dateFmt.format(d) : yearFmt.format(d);
}

/** ago says how long ago t was ("3 min ago"); "never" when absent. */
export function ago(t) {
  if (!t) return 'never';
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (Number.isNaN(s)) return String(t);
  if (s < 0) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} days ago`;
}

/** timeEl is a <time> showing a relative time with the exact time as a tooltip. */
export function timeEl(t) {
  if (!t) return h('span', { class: 'muted' }, 'never');
  return h('time', { datetime: t, title: when(t) }, ago(t));
}

/** bytes formats a size. */
export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** badge shows a device access or wipe state. */
export function badge(text, kind) {
  return h('span', { class: `badge badge-${kind || text}` }, text);
}

let statusTimer = 0;
/**
 * say shows a message in the #status live region. kind: ok, error or
 * info. Errors stay until the next message; others fade after a while.
 */
export function say(message, kind = 'info') {
  const el = document.getElementById('status');
  clearTimeout(statusTimer);
  el.dataset.kind = kind;
  el.textContent = message;
  if (kind !== 'error') {
    statusTimer = setTimeout(() => { el.textContent = ''; }, 15000);
  }
}

/** hush clears the status line. */
export function hush() {
  const el = document.getElementById('status');
  clearTimeout(statusTimer);
  el.textContent = '';
}

/**
 * confirm opens the #confirm dialog and resolves true when the user
 * chose OK. The native modal dialog keeps focus inside and closes on
 * Escape (which answers false); focus returns to where it was.
 */
export function confirm({ title, body, ok = 'Confirm', danger = true }) {
  const dlg = document.getElementById('confirm');
  const okBtn = document.getElementById('confirm-ok');
  const cancelBtn = document.getElementById('confirm-cancel');
  const back = document.activeElement;
  document.getElementById('confirm-title').textContent = title;
  const text = document.getElementById('confirm-text');
  clear(text);
  append(text, Array.isArray(body) ? body : [body]);
  okBtn.textContent = ok;
  okBtn.className = danger ? 'danger' : 'primary';
  return new Promise((resolve) => {
    const done = (v) => {
      okBtn.removeEventListener('click', onOk);
      cancelBtn.removeEventListener('click', onCancel);
      dlg.removeEventListener('cancel', onClose);
      dlg.removeEventListener('keydown', onKey);
      if (dlg.open) dlg.close();
      if (back && back.isConnected) back.focus();
      resolve(v);
    };
    const onOk = () => done(true);
    const onCancel = () => done(false);
    const onClose = () => done(false);
    // The modal dialog makes the page inert, but Tab from its last control
    // would leave the document; keep it cycling inside the dialog.
    const onKey = (ev) => {
      if (ev.key !== 'Tab') return;
      const list = [...dlg.querySelectorAll('button, [href], input, select, textarea')].filter((el) => !el.disabled && !el.hidden);
      if (!list.length) return;
      const first = list[0], last = list[list.length - 1];
      const at = document.activeElement;
      if (ev.shiftKey && (at === first || !dlg.contains(at))) { ev.preventDefault(); last.focus(); }
      else if (!ev.shiftKey && (at === last || !dlg.contains(at))) { ev.preventDefault(); first.focus(); }
    };
    dlg.addEventListener('keydown', onKey);
    okBtn.addEventListener('click', onOk);
    cancelBtn.addEventListener('click', onCancel);
    // Escape fires 'cancel' at once; the 'close' event comes a task later and
    // would cancel a dialog reopened in between.
    dlg.addEventListener('cancel', onClose);
    dlg.showModal();
    cancelBtn.focus();
  });
}

/** field wraps a labelled control: <div class="field"><label for>…</label>control hint error</div>. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid('f');
  const err = h('p', { class: 'field-error', id: control.id + '-error', hidden: true });
  const kids = [h('label', { for: control.id }, label), control];
  if (hint) {
    const hid = control.id + '-hint';
    kids.push(h('p', { class: 'hint', id: hid }, hint));
    control.setAttribute('aria-describedby', hid);
  }
  kids.push(err);
  return h('div', { class: 'field' }, kids);
}

/** fieldError shows msg (or clears it when empty) below a control made by field. */
export function fieldError(control, msg) {
  const err = document.getElementById(control.id + '-error');
  if (!err) return;
  err.textContent = msg || '';
  err.hidden = !msg;
  if (msg) control.setAttribute('aria-invalid', 'true');
  else control.removeAttribute('aria-invalid');
}

/** busy disables a button while fn runs and returns fn's result. */
export async function busy(button, fn) {
  const was = button.disabled;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try { return await fn(); } finally {
    button.disabled = was;
    button.removeAttribute('aria-busy');
  }
}

/** pager renders "1–50 of 120" with previous/next buttons. */
export function pager(offset, limit, total, go) {
  const from = total === 0 ? 0 : offset + 1;
  const to = Math.min(offset + limit, total);
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', class: 'ghost', disabled: offset <= 0, onclick: () => go(Math.max(0, offset - limit)) }, '‹ Previous'),
    h('span', {}, `${from}–${to} of ${total}`),
    h('button', { type: 'button', class: 'ghost', disabled: offset + limit >= total, onclick: () => go(offset + limit) }, 'Next ›'));
}

/** empty is the placeholder row text of an empty table. */
export function emptyRow(cols, text) {
  return h('tr', { class: 'empty' }, h('td', { colspan: cols }, text));
}

/** deviceName is how people recognise a device: its friendly name or model and OS. */
export function deviceName(d) {
  return d.friendly_name || d.model || d.device_type || d.device_id;
}

/** setQuarantineCount shows how many devices wait in quarantine next to the nav link. */
export function setQuarantineCount(n) {
  const el = document.getElementById('quarantine-count');
  if (!el) return;
  el.textContent = n > 0 ? String(n) : '';
  el.hidden = !(n > 0);
  el.setAttribute('aria-label', `${n} waiting`);
}

/** stateBadge shows a device's access state, and its wipe state when one is under way. */
export function stateBadge(d) {
  const out = [badge(d.access_state)];
  if (d.wipe_state && d.wipe_state !== 'cancelled') {
    out.push(' ', badge(`${d.wipe_account_only ? 'account wipe' : 'wipe'} ${d.wipe_state}`, d.wipe_state));
  }
  return out;
}

/** put appends children to el like h does: arrays flattened, null and false skipped, strings as text. */
export function put(el, ...children) {
  append(el, children);
  return el;
}
