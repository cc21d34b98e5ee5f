// Device detail: everything the device told us (Settings DeviceInformation),
// its access state with reason, who and when, policy compliance, wipe state,
// history, the protocol trace, likely successors of a wiped device, and the
// actions the role may take. Destructive actions ask first in #confirm,
// naming the device and its user; results are the server's answer.

import * as api from '../api.js';
import { h, put, say, confirm, when, timeEl, badge, stateBadge, deviceName, busy, emptyRow } from '../dom.js';

async function optional(path) {
  try {
    return await api.get(path);
  } catch (e) {
    if (e.status === 404 || e.status === 405 || e.status === 403) return null;
    throw e;
  }
}

function fact(label, value) {
  const v = value === undefined || value === null || value === '' ? h('span', { class: 'muted' }, '—') : value;
  return [h('dt', {}, label), h('dd', {}, v)];
}

// who names the device for a confirmation: name, model, DeviceId and the user.
function who(d) {
  const name = deviceName(d);
  const model = d.model && d.model !== name ? `${d.model}, ` : '';
  return h('span', {}, h('strong', {}, name), ` (${model}DeviceId ${d.device_id}) of `, h('strong', {}, d.address));
}

// provisionText explains MS-ASPROV 2.2.2.54 Status values of the last Provision.
const provisionText = { 1: 'acknowledged', 2: 'policy not defined', 3: 'unknown policy type', 4: 'policy data corrupt', 5: 'wrong policy key' };

// policyText names a policy and its version: "Executives v2".
function policyText(name, id, version) {
  const n = name || (id ? `policy #${id}` : 'a policy');
  return version ? `${n} v${version}` : n;
}

// compliance says whether the device applies the user's policy. The names
// come with the device (a helpdesk agent cannot read /policies); pol, the
// user's policy, adds its version when the server gave it.
function compliance(d, pol) {
  const wiped = d.wipe_state === 'acknowledged';
  const wipePending = d.wipe_state === 'requested' || d.wipe_state === 'sent';
  if (!d.policy_key && !d.provisioned_at) {
    if (wiped || wipePending) return h('span', { class: 'muted' }, 'Never provisioned.');
    return h('span', {}, badge('not provisioned', 'warn'), ' The device has not acknowledged a policy.');
  }
  const acked = policyText(d.acknowledged_policy_name, d.policy_id, d.policy_version);
  const userName = d.policy_name || (pol && pol.name) || '';
  const users = userName ? policyText(userName, 0, pol && pol.name === userName ? pol.version : 0) : '';
  // A wiped device never provisions again, and one about to be wiped gets
  // the wipe instead of a new policy: compliance is moot.
  if (wiped) return h('span', {}, `Acknowledged ${acked} before it was wiped.`);
  if (wipePending) return h('span', {}, `Acknowledged ${acked}. A wipe is pending: the device gets the wipe, not a new policy.`);
  // policy_compliant is the server's verdict when it gives one; else compare with the user's policy.
  const current = typeof d.policy_compliant === 'boolean'
    ? d.policy_compliant
    : !!pol && d.policy_id === pol.id && d.policy_version === pol.version && d.provision_status === 1;
  if (current) return h('span', {}, badge('compliant', 'ok'), ` Acknowledged ${acked}.`);
  return h('span', {}, badge('not compliant', 'warn'), ` Acknowledged ${acked}`,
    users ? `; the user's policy is ${users}` : '', '. The device must provision again.');
}

// reasonText says in words why a device has its access state
// (store.Reason…).
const reasonText = {
  default: 'the server\'s default', rule: 'a device access rule', 'user-list': 'the user\'s allow or block list',
  individual: 'an individual decision', wipe: 'remote wipe',
};

// setBy is who or what decided the access: for a wipe, who asked for it.
function setBy(d) {
  if (d.access_reason === 'wipe') return d.wipe_requested_by || '';
  if (d.access_reason === 'default' || d.access_reason === 'user-list') return '';
  return d.access_set_by;
}

function traceRows(list) {
  if (!list || !list.length) return [h('p', { class: 'muted' }, 'No requests traced yet. The device\'s next requests appear here.')];
  return list.map((t) => {
    const status = [t.http_status ? `HTTP ${t.http_status}` : null, t.status ? `status ${t.status}` : null].filter(Boolean).join(', ');
    const dur = typeof t.duration_ms === 'number' ? `${t.duration_ms < 10 ? t.duration_ms.toFixed(1) : Math.round(t.duration_ms)} ms` : '';
    return h('details', { class: 'trace-item' },
      h('summary', {}, h('time', { datetime: t.at }, when(t.at)), ' ', h('strong', {}, t.command || 'request'), ' ',
        h('span', { class: 'muted' }, [t.protocol_version, status, dur].filter(Boolean).join(' · '))),
      h('h4', {}, 'Request'), h('pre', { class: 'trace' }, t.request || '(empty)'),
      h('h4', {}, 'Response'), h('pre', { class: 'trace' }, t.response || '(empty)'));
  });
}

export async function render(main, ctx) {
  const id = ctx.id;
  if (!/^[1-9][0-9]*$/.test(id)) {
    put(main, h('h1', {}, 'Device not found'), h('p', {}, h('a', { href: '#/devices' }, 'Back to the device list.')));
    return;
  }
  let d;
  try {
    d = await api.get(`/devices/${id}`);
  } catch (e) {
    if (e.status !== 404) throw e;
    put(main, h('h1', {}, 'Device not found'), h('p', {}, `There is no device ${id}; it may have been removed. `, h('a', { href: '#/devices' }, 'Back to the device list.')));
    return;
  }
  const [history, pol, traces] = await Promise.all([
    optional(`/devices/${id}/history?limit=50`),
    optional(`/users/${api.enc(d.address)}/policy`),
    d.trace_enabled ? optional(`/devices/${id}/traces`) : Promise.resolve(null),
  ]);
  if (ctx.stale()) return;
  const isAdmin = ctx.isAdmin;
  const name = deviceName(d);

  // do runs an action, shows the server's answer and redraws the page from it.
  const run = async (btn, fn, okText) => {
    await busy(btn, async () => {
      try {
        const res = await fn();
        say(okText(res), 'ok');
        ctx.rerender();
      } catch (e) {
        say(`${name} (${d.device_id}): ${e.message}`, 'error');
      }
    });
  };
  const stateMsg = (verb) => (nd) => `${verb} ${deviceName(nd)} (${nd.device_id}) of ${nd.address}: the server reports it ${nd.access_state}${nd.wipe_state ? `, wipe ${nd.wipe_state}` : ''}.`;
  const button = (action, text, cls, onclick) => h('button', { type: 'button', class: cls, dataset: { action }, onclick: (ev) => onclick(ev.currentTarget) }, text);
  const ask = async (title, body, ok) => confirm({ title, body: [h('p', {}, who(d)), ...body], ok });

  const decide = isAdmin || d.access_state === 'quarantined';
  const wipeOpen = d.wipe_state === 'requested' || d.wipe_state === 'sent';
  const wiped = d.wipe_state === 'acknowledged';
  const actions = [];
  if (decide && d.access_state !== 'allowed' && !wiped) {
    actions.push(button('allow', d.access_state === 'quarantined' ? 'Approve' : 'Allow', 'approve', (b) =>
      run(b, () => api.post(`/devices/${id}/allow`), stateMsg('Allowed'))));
  }
  if (decide && d.access_state !== 'blocked') {
    actions.push(button('block', 'Block', 'danger-ghost', async (b) => {
      if (await ask(`Block ${name}?`, [h('p', {}, 'The device will no longer sync. You can allow it again later.')], 'Block device')) {
        run(b, () => api.post(`/devices/${id}/block`), stateMsg('Blocked'));
      }
    }));
  }
  if (isAdmin && d.access_state !== 'quarantined' && !wiped) {
    actions.push(button('quarantine', 'Quarantine', 'ghost', async (b) => {
      if (await ask(`Quarantine ${name}?`, [h('p', {}, 'The device will sync only its Inbox until someone approves it.')], 'Quarantine device')) {
        run(b, () => api.post(`/devices/${id}/quarantine`), stateMsg('Quarantined'));
      }
    }));
  }
  if (isAdmin && d.access_reason === 'individual') {
    actions.push(button('reset', 'Clear decision', 'ghost', (b) =>
      run(b, () => api.post(`/devices/${id}/reset`), (nd) => `Cleared the individual decision for ${deviceName(nd)}: rules and the default now make it ${nd.access_state}.`)));
  }
  if (!wipeOpen && !wiped) {
    actions.push(button('wipe', 'Wipe device', 'danger', async (b) => {
      if (await ask(`Wipe ${name}?`, [
        h('p', {}, 'The device erases all its data — the user\'s personal data too — the next time it connects. Once it has received the command, this cannot be undone.')], 'Wipe device')) {
        run(b, () => api.post(`/devices/${id}/wipe`, { account_only: false }), (nd) => `Wipe of ${deviceName(nd)} (${nd.device_id}) of ${nd.address} ${nd.wipe_state}: the device gets it on its next connection.`);
      }
    }));
    actions.push(button('account-wipe', 'Wipe account only', 'danger-ghost', async (b) => {
      if (await ask(`Wipe only ${d.address}'s account from ${name}?`, [
        h('p', {}, 'The device removes this mail account and its data and keeps everything else. It needs ActiveSync 16.1; an older device stays blocked while the request stands.')], 'Wipe account')) {
        run(b, () => api.post(`/devices/${id}/wipe`, { account_only: true }), (nd) => `Account-only wipe of ${deviceName(nd)} (${nd.device_id}) of ${nd.address} ${nd.wipe_state}.`);
      }
    }));
  }
  if (d.wipe_state === 'requested') {
    actions.push(button('cancel-wipe', 'Cancel wipe', 'ghost', (b) =>
      run(b, () => api.post(`/devices/${id}/cancel-wipe`), (nd) => `Wipe of ${deviceName(nd)} (${nd.device_id}) ${nd.wipe_state}.`)));
  }
  if (isAdmin) {
    actions.push(button('remove', 'Remove partnership', 'danger-ghost', async (b) => {
      if (await ask(`Remove ${name}?`, [h('p', {}, 'The partnership, its sync state and its history link are deleted. If the device connects again it starts over as a new device.')], 'Remove')) {
        await busy(b, async () => {
          try {
            await api.del(`/devices/${id}`);
            say(`Removed ${name} (${d.device_id}) of ${d.address}.`, 'ok');
            ctx.go('#/devices');
          } catch (e) {
            say(`${name} (${d.device_id}): ${e.message}`, 'error');
          }
        });
      }
    }));
  }

  const wipePanel = d.wipe_state ? h('section', { class: `panel wipe-${d.wipe_state}`, 'aria-labelledby': 'wipe-h' },
    h('h2', { id: 'wipe-h' }, d.wipe_account_only ? 'Account-only wipe' : 'Remote wipe'),
    h('dl', { class: 'facts' },
      fact('State', badge(d.wipe_state)),
      fact('Requested', d.wipe_requested_at ? `${when(d.wipe_requested_at)} by ${d.wipe_requested_by}` : ''),
      fact('Sent to device', d.wipe_sent_at ? when(d.wipe_sent_at) : 'not yet'),
      fact('Acknowledged', d.wipe_acked_at ? `${when(d.wipe_acked_at)} (status ${d.wipe_ack_status})` : 'not yet'))) : null;

  // Trace toggle: PUT /devices/:id/trace {"enabled": bool}.
  const traceBtn = h('button', { type: 'button', id: 'trace-toggle', class: 'ghost', dataset: { action: 'trace' }, 'aria-pressed': String(!!d.trace_enabled) },
    d.trace_enabled ? 'Stop tracing' : 'Start tracing');
  traceBtn.addEventListener('click', () => run(traceBtn, () => api.put(`/devices/${id}/trace`, { enabled: !d.trace_enabled }),
    (r) => {
      const on = r && typeof r.trace_enabled === 'boolean' ? r.trace_enabled : (r && typeof r.enabled === 'boolean' ? r.enabled : !d.trace_enabled);
      return on ? `Tracing ${name}: its next requests are recorded.` : `Stopped tracing ${name}.`;
    }));
  const traceList = traces ? (traces.items || traces) : null;
  const tracePanel = h('section', { class: 'panel o-trace', 'aria-labelledby': 'trace-h' },
    h('div', { class: 'page-head' }, h('h2', { id: 'trace-h' }, 'Protocol trace'), isAdmin ? traceBtn : null),
    d.trace_enabled
      ? (Array.isArray(traceList) ? traceRows(traceList) : h('p', { class: 'muted' }, 'This server does not show traces.'))
      : h('p', { class: 'muted' }, isAdmin
        ? 'Off. Start tracing to record this device\'s requests and responses (decoded, credentials removed) while you troubleshoot.'
        : 'Off. An administrator can turn tracing on.'));

  const likely = (list, title, hid, intro) => h('section', { class: 'panel', 'aria-labelledby': hid },
    h('h2', { id: hid }, title), h('p', { class: 'muted' }, intro),
    h('ul', { class: 'likely' }, list.map((x) => h('li', { dataset: { deviceId: String(x.id) } },
      h('a', { href: `#/devices/${x.id}` }, deviceName(x)), ` (${x.device_id}) `, x.access_state ? badge(x.access_state) : null,
      h('span', { class: 'sub' }, [x.reason, x.first_seen ? `first seen ${when(x.first_seen)}` : null, x.imei ? `IMEI ${x.imei}` : null]
        .filter(Boolean).map((t, i) => [i ? ' · ' : '', h('span', {}, t)]))))));
  const succ = Array.isArray(d.likely_successors) ? d.likely_successors : null;
  const pred = Array.isArray(d.likely_predecessor) ? d.likely_predecessor : [];
  const successors = succ && (succ.length || d.wipe_state && d.wipe_state !== 'cancelled')
    ? (succ.length
      ? likely(succ, 'Likely successors', 'succ-h', `Devices of ${d.address} that appeared after the wipe was requested and match its IMEI or model — probably the replacement.`)
      : h('section', { class: 'panel', 'aria-labelledby': 'succ-h' }, h('h2', { id: 'succ-h' }, 'Likely successors'), h('p', { class: 'muted' }, `No new device of ${d.address} matches this one yet.`)))
    : null;
  const predecessors = pred.length ? likely(pred, 'Replaces', 'pred-h', `Wiped devices of ${d.address} that this one probably replaces.`) : null;

  const hist = history ? history.items : [];
  const historyPanel = h('section', { class: 'panel o-history', 'aria-labelledby': 'hist-h' },
    h('h2', { id: 'hist-h' }, 'History'),
    history === null ? h('p', { class: 'muted' }, 'History is not available.') : h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'When'), h('th', { scope: 'col' }, 'Who'), h('th', { scope: 'col' }, 'What'), h('th', { scope: 'col' }, 'Detail'))),
      h('tbody', {}, hist.length ? hist.map((a) => h('tr', { dataset: { auditAction: a.action } },
        h('td', { class: 'nowrap' }, h('time', { datetime: a.at }, when(a.at))), h('td', {}, a.actor), h('td', {}, h('code', {}, a.action)), h('td', {}, a.detail))) : emptyRow(4, 'Nothing recorded yet.')))));

  put(main, 
    h('p', { class: 'crumbs' }, h('a', { href: '#/devices' }, '‹ Devices')),
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, name), h('p', {}, h('a', { href: `#/users/${api.enc(d.address)}` }, d.address), ' · ', stateBadge(d))),
      h('div', { class: 'actions', role: 'group', 'aria-label': 'Device actions' }, actions)),
    wiped ? h('p', { class: 'notice error' }, isAdmin
      ? 'This device was wiped. It stays blocked until you remove the partnership.'
      : 'This device was wiped. It stays blocked until an administrator removes the partnership.') : null,
    d.access_state === 'quarantined' ? h('p', { class: 'notice warn' }, 'This device is in quarantine: it syncs only its Inbox until someone approves it.') : null,
    h('div', { class: 'split device-split' },
      h('div', {},
        h('section', { class: 'panel o-info', 'aria-labelledby': 'info-h' },
          h('h2', { id: 'info-h' }, 'Device information'),
          h('dl', { class: 'facts' },
            fact('Model', d.model), fact('Friendly name', d.friendly_name), fact('Operating system', d.os),
            fact('OS language', d.os_language), fact('IMEI', d.imei), fact('Phone number', d.phone_number),
            fact('Mobile operator', d.mobile_operator), fact('Device type', d.device_type),
            fact('DeviceId', h('code', {}, d.device_id)), fact('User agent', d.user_agent),
            fact('Protocol version', d.protocol_version))),
        tracePanel, historyPanel),
      h('div', {},
        h('section', { class: 'panel o-access', 'aria-labelledby': 'access-h' },
          h('h2', { id: 'access-h' }, 'Access'),
          h('dl', { class: 'facts' },
            fact('State', badge(d.access_state)), fact('Reason', reasonText[d.access_reason] || d.access_reason),
            fact('Set by', setBy(d)), fact('Set', d.access_set_at ? when(d.access_set_at) : ''),
            fact('First seen', when(d.first_seen)), fact('Last sync', timeEl(d.last_seen)))),
        h('section', { class: 'panel o-policy', 'aria-labelledby': 'policy-h' },
          h('h2', { id: 'policy-h' }, 'Policy'),
          h('dl', { class: 'facts' },
            fact('Compliance', compliance(d, pol)),
            fact('Policy key', d.policy_key ? h('code', {}, String(d.policy_key)) : ''),
            fact('Last provision', d.provisioned_at ? `${when(d.provisioned_at)}${d.provision_status ? ` (${provisionText[d.provision_status] || 'status ' + d.provision_status})` : ''}` : ''))),
        wipePanel, successors, predecessors)));
}
