// easd admin dashboard: hash routing, the header, login and logout.
//
// Selector contract (the browser tests rely on these; keep them):
//   login: #login-user, #login-password, #login-submit, #login-message
//   <body data-role="admin|helpdesk">; nav a[href="#/…"]; #logout
//   <main id="main" data-page="NAME" data-ready="true"> once a page has
//     loaded and rendered (absent while loading)
//   quarantine and device tables: tr[data-device-id], button[data-action=
//     "approve"|"block"], input[data-select], #bulk-approve, #bulk-block
//   device detail: button[data-action="allow|block|quarantine|wipe|
//     account-wipe|cancel-wipe|remove"]; <dialog id="confirm"> with
//     #confirm-ok and #confirm-cancel; panels .o-info, .o-access,
//     .o-policy holding dl.facts (dt label, dd value)
//   device tables: td.device-cell (the name, one line), td.user-cell,
//     sortable headings button.sort[data-sort="model|user|state|first_seen|
//     last_seen"]
//   action results and errors: #status; audit rows tr[data-audit-action]

import * as api from './api.js';
import { h, say, hush, clear, setQuarantineCount } from './dom.js';

const pages = {
  overview: () => import('./pages/overview.js'),
  quarantine: () => import('./pages/quarantine.js'),
  devices: () => import('./pages/devices.js'),
  device: () => import('./pages/device.js'),
  users: () => import('./pages/users.js'),
  rules: () => import('./pages/rules.js'),
  policies: () => import('./pages/policies.js'),
  outbound: () => import('./pages/outbound.js'),
  audit: () => import('./pages/audit.js'),
};

// Pages a helpdesk agent cannot use (the API answers 403).
const adminPages = new Set(['rules', 'policies', 'outbound', 'audit']);

const titles = {
  overview: 'Overview', quarantine: 'Quarantine', devices: 'Devices', device: 'Device', users: 'Users',
  rules: 'Device access rules', policies: 'Policies', outbound: 'Outbound queue', audit: 'Audit log', login: 'Log in',
};

let loginMessage = '';
let renderGen = 0;

const main = () => document.getElementById('main');

/** parse splits "#/devices/12?state=blocked" into page, id and query. */
function parse(hash) {
  const raw = hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?', 2);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  let page = parts[0] || 'overview';
  let id = parts[1] || '';
  if (page === 'devices' && id) page = 'device';
  return { page, id, params: new URLSearchParams(qs || '') };
}

/** go navigates to a route ("#/devices?state=blocked"). */
export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// sessionExpired shows the login page; logging in again returns to the
// route the user was on (or was going to: the hash has already changed
// when a navigation's request finds the session gone).
function sessionExpired(code) {
  loginMessage = code === 'session_expired' || code === 'invalid_token' || code === 'unauthenticated'
    ? 'Your session expired — log in again.'
    : 'You were logged out — log in again.';
  if (location.hash && !location.hash.startsWith('#/login')) loginNext = location.hash;
  showChrome();
  go('#/login');
}

function showChrome() {
  const s = api.currentSession();
  const top = document.getElementById('top');
  if (!api.loggedIn()) {
    top.hidden = true;
    delete document.body.dataset.role;
    return;
  }
  top.hidden = false;
  document.body.dataset.role = s.role;
  document.getElementById('who-name').textContent = s.name;
  document.getElementById('who-role').textContent = s.role === 'admin' ? 'Administrator' : 'Helpdesk';
  for (const li of document.querySelectorAll('#nav [data-admin]')) li.hidden = s.role !== 'admin';
  const exp = document.getElementById('who-expiry');
  exp.textContent = s.absoluteExpiry ? `session ends by ${new Date(s.absoluteExpiry).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}` : '';
}

function markNav(page) {
  const current = page === 'device' ? 'devices' : page;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === '#/' + current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  const gen = ++renderGen;
  let { page, id, params } = parse(location.hash);
  if (!api.loggedIn()) {
    if (page !== 'login') {
      // Remember where the user wanted to go.
      if (location.hash && location.hash !== '#/login') loginNext = location.hash;
    }
    page = 'login';
  } else if (page === 'login') {
    go('#/overview');
    return;
  }
  const role = api.currentSession().role;
  if (api.loggedIn() && page !== 'overview' && page !== 'quarantine' && page !== 'login') refreshQuarantineCount();
  const m = main();
  m.removeAttribute('data-ready');
  m.dataset.page = page;
  m.setAttribute('aria-busy', 'true');
  clear(m);
  markNav(page);
  document.title = `${titles[page] || 'Not found'} · easd admin`;
  try {
    if (page === 'login') {
      renderLogin(m);
    } else if (!pages[page]) {
      m.append(h('h1', {}, 'Page not found'), h('p', {}, 'There is no such page. ', h('a', { href: '#/overview' }, 'Go to the overview.')));
    } else if (adminPages.has(page) && role !== 'admin') {
      m.append(h('h1', {}, titles[page]), h('p', { class: 'notice' }, 'This page is for administrators. Your role is helpdesk.'));
    } else {
      const mod = await pages[page]();
      if (gen !== renderGen) return;
      await mod.render(m, { id, params, role, isAdmin: role === 'admin', stale: () => gen !== renderGen, go, rerender: route });
    }
  } catch (e) {
    if (gen !== renderGen) return;
    if (e instanceof api.ApiError && e.status === 401) return; // handled: back to login
    clear(m);
    m.append(h('h1', {}, titles[page] || 'Error'),
      h('p', { class: 'notice error' }, e instanceof api.ApiError ? e.message : 'Something went wrong: ' + e.message),
      h('p', {}, h('button', { type: 'button', onclick: () => route() }, 'Try again')));
    if (e instanceof api.ApiError) say(e.message, 'error');
    else console.error(e);
  }
  if (gen !== renderGen) return;
  m.removeAttribute('aria-busy');
  m.dataset.ready = 'true';
  // Focus lost with the old page's elements (a form that was replaced,
  // the login form) restarts at the page's content, not at the end of it.
  const active = document.activeElement;
  if (!active || active === document.body || !active.isConnected) m.focus({ preventScroll: true });
}

let loginNext = '';

// refreshQuarantineCount updates the number beside the Quarantine link; the
// overview and quarantine pages set it from their own answers.
function refreshQuarantineCount() {
  api.get('/devices' + api.query({ state: 'quarantined', limit: 1 }))
    .then((r) => setQuarantineCount(r.total))
    .catch(() => {});
}

function renderLogin(m) {
  const user = h('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const msg = h('p', { id: 'login-message', role: 'alert' }, loginMessage);
  msg.hidden = !loginMessage;
  if (loginMessage) msg.dataset.kind = 'info';
  const submit = h('button', { id: 'login-submit', type: 'submit', class: 'primary' }, 'Log in');
  const form = h('form', { class: 'login-form', novalidate: true, 'aria-labelledby': 'login-title' },
    h('div', { class: 'login-brand' }, h('img', { src: 'favicon.svg', alt: '', width: 40, height: 40 }), h('span', {}, 'easd')),
    h('h1', { id: 'login-title' }, 'Log in to the admin dashboard'),
    msg,
    h('div', { class: 'field' }, h('label', { for: 'login-user' }, 'Admin name'), user),
    h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Password'), pass),
    submit,
    h('p', { class: 'hint' }, 'Your session is kept only in this tab: reloading the page or closing the tab logs you out. ',
      'Sessions end after a period of inactivity and 8 hours after login.'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.hidden = true;
    if (!user.value.trim() || !pass.value) {
      msg.textContent = 'Enter your admin name and password.';
      msg.dataset.kind = 'error';
      msg.hidden = false;
      (user.value.trim() ? pass : user).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Logging in…';
    try {
      await api.login(user.value.trim(), pass.value);
      loginMessage = '';
      hush();
      showChrome();
      const next = loginNext && !loginNext.startsWith('#/login') ? loginNext : '#/overview';
      loginNext = '';
      go(next);
    } catch (e) {
      api.logout();
      msg.textContent = e.message;
      msg.dataset.kind = 'error';
      msg.hidden = false;
      submit.disabled = false;
      submit.textContent = 'Log in';
      pass.select();
      pass.focus();
    }
  });
  m.append(h('div', { class: 'login-wrap' }, form));
  user.focus();
}

function logout() {
  api.logout();
  loginMessage = 'You logged out.';
  loginNext = '';
  hush();
  showChrome();
  go('#/login');
}

function start() {
  api.setExpiredHandler(sessionExpired);
  document.getElementById('logout').addEventListener('click', logout);
  document.getElementById('skip').addEventListener('click', (ev) => {
    ev.preventDefault();
    main().focus();
  });
  window.addEventListener('hashchange', route);
  showChrome();
  route();
}

start();
