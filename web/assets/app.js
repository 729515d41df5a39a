// The presence board: a single-page app that signs in with the
// authorization-code flow and PKCE (as MSAL.js does) and then uses only
// public endpoints with the user's token: Graph paths, the live stream,
// the explain endpoint and, in dev mode, the dev clock.
'use strict';

const cfg = JSON.parse(document.querySelector('meta[name="presenced-config"]').content);
const $ = (id) => document.getElementById(id);
const STORE = 'presenced.board', PKCE = 'presenced.board.pkce';
const GRAPH = 'https://graph.microsoft.com/.default';
const redirectURI = location.origin + '/';

// ---- words: what Teams shows for each value (text, never colour alone)
const words = {
  Available: 'Available', AvailableIdle: 'Available', AvailableInactive: 'Available, inactive', Away: 'Away', BeRightBack: 'Be right back',
  Busy: 'Busy', BusyIdle: 'Busy', InACall: 'In a call', InAConferenceCall: 'In a conference call', InAMeeting: 'In a meeting',
  Presenting: 'Presenting', DoNotDisturb: 'Do not disturb', Focusing: 'Focusing', UrgentInterruptionsOnly: 'Urgent interruptions only',
  Offline: 'Offline', OffWork: 'Off work', OutOfOffice: 'Out of office', Inactive: 'Inactive', PresenceUnknown: 'Unknown',
};
const say = (v) => words[v] || v;
const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v; else if (k.startsWith('data')) e.setAttribute(k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()), v);
    else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
};
function badge(p) {
  const oof = p.outOfOfficeSettings && p.outOfOfficeSettings.isOutOfOffice;
  const cls = 'badge ' + (p.availability || 'PresenceUnknown').toLowerCase() + (oof ? ' oof' : '');
  return el('span', { class: cls, text: say(p.availability) + (oof ? ', out of office' : '') });
}
const fmtTime = (s) => s ? new Date(s).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium', timeZone: 'UTC' }) + ' UTC' : '';
const announce = (text) => { $('announce').textContent = ''; setTimeout(() => { $('announce').textContent = text; }, 50); };

// ---- PKCE and tokens
const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));
async function sha256(text) {
  const data = new TextEncoder().encode(text);
  if (crypto.subtle) return new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  return sha256Fallback(data); // an http page on another host is no secure context: no crypto.subtle
}
function sha256Fallback(data) {
  const K = [0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2];
  const H = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
  const len = data.length, padded = new Uint8Array(((len + 9 + 63) >> 6) << 6);
  padded.set(data); padded[len] = 0x80;
  new DataView(padded.buffer).setUint32(padded.length - 4, len * 8);
  const w = new Uint32Array(64), v = new DataView(padded.buffer), rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let o = 0; o < padded.length; o += 64) {
    for (let i = 0; i < 16; i++) w[i] = v.getUint32(o + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3), s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let [a, b, c, d, e, f, g, h] = H;
    for (let i = 0; i < 64; i++) {
      const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    [a, b, c, d, e, f, g, h].forEach((x, i) => { H[i] = (H[i] + x) | 0; });
  }
  const out = new Uint8Array(32);
  H.forEach((x, i) => new DataView(out.buffer).setUint32(i * 4, x));
  return out;
}
const claims = (jwt) => JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))));

let session = JSON.parse(sessionStorage.getItem(STORE) || 'null');
const save = () => sessionStorage.setItem(STORE, JSON.stringify(session));

async function signIn(app) {
  const verifier = random(32), state = random(16), nonce = random(16);
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state, nonce, app }));
  const challenge = b64url(await sha256(verifier));
  const q = new URLSearchParams({ client_id: app.clientId, response_type: 'code', redirect_uri: redirectURI, response_mode: 'fragment',
    scope: 'openid profile offline_access ' + GRAPH, state, nonce, code_challenge: challenge, code_challenge_method: 'S256' });
  location.assign('/' + app.tenantId + '/oauth2/v2.0/authorize?' + q);
}

async function tokenRequest(tenantId, form) {
  const r = await fetch('/' + tenantId + '/oauth2/v2.0/token', { method: 'POST', body: new URLSearchParams(form) }); // unreachable: TypeError
  let body;
  try { body = await r.json(); } catch { throw new Error(`The sign-in service answered ${r.status} ${r.statusText}`.trim()); }
  if (!r.ok) throw Object.assign(new Error(body.error_description || body.error), { refused: true });
  return body;
}

function keep(app, t) {
  const id = t.id_token ? claims(t.id_token) : session.idClaims;
  session = { app, access: t.access_token, refresh: t.refresh_token, idToken: t.id_token || session.idToken, idClaims: id,
    expires: Date.now() + (t.expires_in - 60) * 1000, exp: claims(t.access_token).exp * 1000 };
  save();
}

// completeSignIn takes the code from the fragment, checks the state and
// the id token's nonce, and redeems it.
async function completeSignIn() {
  const f = new URLSearchParams(location.hash.slice(1));
  if (!f.has('code') && !f.has('error')) return;
  history.replaceState(null, '', location.pathname);
  const p = JSON.parse(sessionStorage.getItem(PKCE) || 'null');
  sessionStorage.removeItem(PKCE);
  if (!p || f.get('state') !== p.state) throw new Error('The sign-in answer does not match a sign-in of this page (state). Sign in again.');
  if (f.has('error')) throw new Error(f.get('error_description') || f.get('error'));
  const t = await tokenRequest(p.app.tenantId, { grant_type: 'authorization_code', client_id: p.app.clientId, code: f.get('code'),
    redirect_uri: redirectURI, code_verifier: p.verifier });
  const id = claims(t.id_token);
  if (id.nonce !== p.nonce || id.aud !== p.app.clientId) throw new Error('The id token does not belong to this sign-in (nonce).');
  session = {};
  keep(p.app, t);
}

// token is the access token, refreshed when it is about to expire: by
// this browser's clock since it was issued, and in dev mode also by the
// server's clock, which the dev clock moves (past the token's life, the
// server refuses it while this browser's clock says it is fresh). force
// refreshes it anyway: the server said it expired.
let refreshing = null;
async function token(force) {
  const stale = Date.now() >= session.expires || (clockBase && serverNow() >= session.exp - 60000);
  if (!force && !stale && !refreshing) return session.access;
  refreshing ||= tokenRequest(session.app.tenantId, { grant_type: 'refresh_token', client_id: session.app.clientId, refresh_token: session.refresh })
    .then((t) => keep(session.app, t))
    // Refused, the sign-in ended: sign in again. Unanswered (the server
    // is restarting, the network is down), it may still be good: the
    // caller tries again later.
    .catch((e) => { if (e.refused) { sessionStorage.removeItem(STORE); location.reload(); } throw e; })
    .finally(() => { refreshing = null; });
  await refreshing;
  return session.access;
}

async function api(path, method = 'GET', body, retried) {
  const opts = { method, headers: { Authorization: 'Bearer ' + await token(retried) } };
  if (body !== undefined) { opts.headers['Content-Type'] = 'application/json'; opts.body = JSON.stringify(body); }
  const r = await fetch(path, opts);
  if (r.status === 401 && !retried && session.refresh) return api(path, method, body, true); // expired by the server's clock: once more, refreshed
  const text = await r.text();
  const data = text ? JSON.parse(text) : {};
  if (!r.ok) throw new Error((data.error && data.error.message) || r.statusText);
  return data;
}

function signOut() {
  const s = session;
  sessionStorage.removeItem(STORE);
  if (stream) stream.close();
  const q = new URLSearchParams({ post_logout_redirect_uri: redirectURI, client_id: s.app.clientId });
  if (s.idToken) q.set('id_token_hint', s.idToken);
  location.assign('/' + s.app.tenantId + '/oauth2/v2.0/logout?' + q);
}

// ---- people: the list, their presence, live
const rows = new Map(); // user id → {tr, user, presence}
let nextLink = null, stream = null, lastEventId = '';

function row(u) {
  const tr = el('tr', { dataUser: u.id });
  const why = el('button', { type: 'button', class: 'why', text: 'Why?', 'aria-label': 'Why is ' + u.displayName + "'s presence what it is?" });
  why.addEventListener('click', () => openExplain(u.id, why));
  tr.append(el('td', { class: 'name' }, el('span', { text: u.displayName }), el('span', { class: 'upn', text: u.userPrincipalName })),
    el('td', { dataLabel: 'Presence', class: 'presence' }, '…'), el('td', { dataLabel: 'Activity', class: 'activity' }),
    el('td', { dataLabel: 'Status', class: 'status' }), el('td', { dataLabel: 'Out of office', class: 'oof' }), el('td', {}, why));
  return tr;
}

function show(p, changed) {
  const r = rows.get(p.id);
  if (r) {
    const before = r.presence;
    r.presence = p;
    const td = (c) => r.tr.querySelector('td.' + c);
    td('presence').replaceChildren(badge(p));
    td('activity').textContent = say(p.activity);
    td('status').textContent = p.statusMessage ? p.statusMessage.message.content : '';
    const o = p.outOfOfficeSettings || {};
    td('oof').textContent = o.isOutOfOffice ? (o.message ? 'Yes: ' + o.message : 'Yes') : '';
    if (changed && before && (before.availability !== p.availability || before.activity !== p.activity)) {
      r.tr.classList.remove('changed'); void r.tr.offsetWidth; r.tr.classList.add('changed');
      if (openFor === p.id) announce(r.user.displayName + ' is now ' + say(p.availability) + ', ' + say(p.activity));
    }
  }
  if (session && p.id === session.idClaims.oid) showMine(p, changed);
  if (changed && openFor === p.id) refreshExplain();
}

// listing counts the loads of the list and the filter's edits: only the
// newest load, started after the last edit, may show what it got. Each
// pause in typing can start a load, and their answers can come back in any
// order, or after the next edit; one shown late would replace the filtered
// rows (and the focus in them) with stale ones.
let listing = 0;

async function loadPeople(append) {
  const gen = ++listing, current = () => gen === listing;
  const f = $('filter').value.trim().replace(/'/g, "''");
  let path = nextLink && append ? nextLink.slice(nextLink.indexOf('/v1.0/')) :
    '/v1.0/users?$top=100&$select=id,displayName,userPrincipalName' + (f ? '&$filter=' + encodeURIComponent(`startswith(displayName,'${f}') or startswith(userPrincipalName,'${f}')`) : '');
  $('people-error').hidden = true;
  try {
    const page = await api(path);
    if (!current()) return;
    if (!append) { rows.clear(); $('people-rows').replaceChildren(); }
    for (const u of page.value) {
      const tr = row(u);
      rows.set(u.id, { tr, user: u, presence: null });
      $('people-rows').append(tr);
    }
    nextLink = page['@odata.nextLink'] || null;
    $('more').hidden = !nextLink;
    const ids = [...rows.keys()];
    if (ids.length) {
      const got = await api('/v1.0/communications/getPresencesByUserId', 'POST', { ids: ids.slice(0, 650) });
      if (!current()) return;
      for (const p of got.value) show(p, false);
    }
    watch();
  } catch (e) {
    if (!current()) return;
    $('people-error').textContent = 'Could not list people: ' + e.message;
    $('people-error').hidden = false;
  }
}

// watch opens the live stream for the listed users (and me), resuming
// from the last event after a token refresh.
async function watch(refresh) {
  let tok;
  try {
    tok = await token(refresh);
  } catch { // no new token yet (the server is unreachable): try again
    $('live').textContent = 'Reconnecting…';
    disconnected();
    setTimeout(() => watch(refresh), 1000);
    return;
  }
  // Closed after the await: two watches started together (a reload of the
  // list while a token is refreshed) leave one stream, not two.
  if (stream) stream.close();
  const ids = [...new Set([session.idClaims.oid, ...rows.keys()])].slice(0, 650);
  const q = new URLSearchParams({ ids: ids.join(','), access_token: tok });
  if (lastEventId) q.set('lastEventId', lastEventId);
  const s = new EventSource('/presenced/v1/stream?' + q);
  stream = s;
  const onPresence = (ev) => { if (ev.lastEventId) lastEventId = ev.lastEventId; show(JSON.parse(ev.data), true); };
  s.addEventListener('presence', onPresence);
  s.addEventListener('reset', onPresence);
  // Gone from the list and from the ids of the next stream: a new stream
  // that names a user who left the directory is refused as a whole (a
  // resumed one, which ours are once they had an event, says removed).
  s.addEventListener('removed', (ev) => { const id = JSON.parse(ev.data).id, r = rows.get(id); if (r) { r.tr.remove(); rows.delete(id); } });
  s.addEventListener('end', (ev) => {
    s.close();
    const why = JSON.parse(ev.data || '{}').reason;
    if (stream === s) setTimeout(() => watch(why === 'tokenExpired'), 200);
  });
  s.addEventListener('open', () => { $('live').textContent = 'Live: changes appear as they happen.'; connected(); });
  s.onerror = () => {
    $('live').textContent = 'Reconnecting…';
    disconnected();
    if (s.readyState === EventSource.CLOSED && stream === s) setTimeout(watch, 1000);
  };
}

// While the stream is down, what the board shows is what it last heard:
// it says so at the top, whatever is scrolled into view, and dims the
// presence until the stream is back (and has replayed what it missed).
let lostAt = null;
function disconnected() {
  if (lostAt) return;
  lostAt = new Date();
  $('conn').textContent = `Lost the connection to the server at ${lostAt.toISOString().slice(11, 19)} UTC (this computer's clock): presence shown as it was then. Reconnecting…`;
  $('conn').hidden = false;
  document.body.classList.add('stale');
}
function connected() {
  if (!lostAt) return;
  lostAt = null;
  $('conn').hidden = true;
  document.body.classList.remove('stale');
  announce('Connected again: presence is live.');
}

// ---- my presence
let mySessions = 0; // counts the reads of my sessions: only the newest is shown
async function showMine(p, changed) {
  $('my-badge').replaceChildren(badge(p));
  $('my-status').textContent = (p.activity !== p.availability ? '(' + say(p.activity) + ')' : '') +
    (p.statusMessage ? ' · “' + p.statusMessage.message.content + '”' : '');
  if (changed) announce('You now appear as ' + say(p.availability));
  const gen = ++mySessions;
  try {
    const e = await api('/presenced/v1/me/presence/explain');
    if (gen !== mySessions) return; // a newer change asked again: its answer is the one to show
    const list = $('my-sessions');
    list.replaceChildren(...e.sessions.map((s) => el('li', {}, sessionText(s))));
    if (!e.sessions.length) list.replaceChildren(el('li', { text: 'No session: no application has set your presence, so you appear offline.' }));
  } catch { /* the badge is still right */ }
}

function sessionText(s) {
  let t = `${s.applicationName}: set ${say(s.set.availability)} (${say(s.set.activity)})`;
  t += s.now ? `, now ${say(s.now.availability)} (${say(s.now.activity)})` : ', expired';
  if (s.now && s.inactiveDateTime && s.now.activity === 'Available') t += `; inactive from ${fmtTime(s.inactiveDateTime)}`;
  if (s.now && s.awayDateTime && s.now.availability !== 'Away') t += `; away from ${fmtTime(s.awayDateTime)}`;
  return t + `; refreshed ${fmtTime(s.refreshedDateTime)}; expires ${fmtTime(s.expiresDateTime)}.`;
}

async function mine(action, body) {
  $('mine-error').hidden = true;
  try {
    await api('/v1.0/me/presence/' + action, 'POST', body);
    announce('Saved.');
  } catch (e) {
    $('mine-error').textContent = e.message;
    $('mine-error').hidden = false;
  }
}

function expiryFrom(iso) { // now + an ISO duration (PT1H, P1D…), as Graph's dateTimeTimeZone in UTC
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(iso);
  const ms = ((+m[1] || 0) * 86400 + (+m[2] || 0) * 3600 + (+m[3] || 0) * 60) * 1000;
  return { dateTime: new Date(serverNow() + ms).toISOString().slice(0, 19), timeZone: 'UTC' };
}

// ---- explain
let openFor = null, opener = null;
async function openExplain(id, from) {
  openFor = id; opener = from;
  const d = $('explain');
  $('explain-body').replaceChildren(el('p', { text: 'Loading…' }));
  if (!d.open) d.showModal();
  await refreshExplain();
}

let explaining = 0; // counts the reads of the explanation: only the newest is shown
async function refreshExplain() {
  if (!openFor) return;
  const gen = ++explaining, current = () => gen === explaining && openFor !== null;
  const path = openFor === session.idClaims.oid ? '/presenced/v1/me/presence/explain' : '/presenced/v1/users/' + openFor + '/presence/explain';
  let e;
  try { e = await api(path); } catch (err) { if (current()) $('explain-body').replaceChildren(el('p', { class: 'error', text: err.message })); return; }
  if (!current()) return;
  $('explain-h').textContent = 'Why is ' + e.displayName + ' ' + say(e.presence.availability) + '?';
  const body = [
    el('p', {}, badge(e.presence), ' ', say(e.presence.activity), el('span', { class: 'small', text: ' at ' + fmtTime(e.dateTime) })),
    el('p', { class: 'rule' }, el('strong', { text: `Rule ${e.decidedBy.rule}: ` }), e.decidedBy.description),
    el('p', { text: e.outOfOffice.description }),
  ];
  const dl = el('dl');
  const add = (k, v) => dl.append(el('dt', { text: k }), el('dd', { text: v }));
  add('Sessions', e.sessions.length ? '' : 'none');
  body.push(dl);
  if (e.sessions.length) body.push(el('ul', { class: 'sessions' }, ...e.sessions.map((s) => el('li', { text: (s.decides ? '★ ' : '') + sessionText(s) })))); 
  const dl2 = el('dl');
  const add2 = (k, v) => dl2.append(el('dt', { text: k }), el('dd', { text: v }));
  const pp = e.preferredPresence;
  add2('Preferred presence', pp ? `${say(pp.availability)} (${say(pp.activity)}) until ${fmtTime(pp.expiresDateTime)}${pp.inForce ? ', in force' : ', not shown without a session'}` : 'none');
  add2('Meetings', e.meetings.length ? e.meetings.map((m) => `${m.showAs} ${fmtTime(m.startDateTime)} – ${fmtTime(m.endDateTime)}${m.inProgress ? ' (now)' : ''}`).join('; ') : 'none in the next 48 hours');
  const ar = e.automaticReplies;
  add2('Automatic replies', ar ? `${ar.status}${ar.inForce ? ', on now' : ', not now'}${ar.message ? ': “' + ar.message + '”' : ''}` : 'off');
  const n = e.nextChange;
  add2('Next change by itself', n ? `${fmtTime(n.dateTime)}: ${say(n.availability)} (${say(n.activity)})${n.isOutOfOffice ? ', out of office' : ''}` : 'none: it stays so until something is written');
  body.push(dl2, el('h3', { text: 'Recent changes' }));
  body.push(e.recentChanges.length ? el('ol', { reversed: '' }, ...e.recentChanges.map((c) => el('li', { text: `${fmtTime(c.dateTime)}: ${say(c.availability)} (${say(c.activity)})${c.isOutOfOffice ? ', out of office' : ''} · sequenceNumber ${c.sequenceNumber}` })))
    : el('p', { class: 'small', text: 'None logged: changes are logged while someone watches this user.' }));
  $('explain-body').replaceChildren(...body);
}

// Closed, the dialog gives the focus back to what had it (the browser
// does); the board gives it to the opener only where that failed (the row
// was redrawn: the focus fell to the body). The close event comes a task
// later, and by then the focus may be where the user moved it: taking it
// back would send their next key (Enter on Sign out) to "Why?".
// A close event that comes after the dialog was opened again (a quick
// second "Why?") belongs to the earlier close: it must not end the new one
// (its explanation stayed "Loading…").
$('explain').addEventListener('close', () => {
  if ($('explain').open) return;
  openFor = null;
  if (opener && opener.isConnected && (!document.activeElement || document.activeElement === document.body)) opener.focus();
});
$('explain-close').addEventListener('click', () => $('explain').close());

// ---- dev clock
let clockBase = 0, clockRead = 0;
const serverNow = () => (clockBase ? clockBase + (performance.now() - clockRead) : Date.now());
async function readClock() {
  const c = await api('/dev/clock');
  clockBase = Date.parse(c.now); clockRead = performance.now();
  $('clock-offset').textContent = c.offset === 'PT0S' ? '' : `(moved forward ${c.offset})`;
  tick();
}
function tick() {
  const t = new Date(serverNow());
  $('clock-now').textContent = t.toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
  $('clock-now').setAttribute('datetime', t.toISOString());
}
async function advance(by) {
  await api('/dev/clock/advance', 'POST', { by });
  await readClock();
  announce('Server clock moved forward ' + by.replace('PT', '').toLowerCase());
  refreshExplain();
}

// ---- start
async function start() {
  try {
    await completeSignIn();
  } catch (e) {
    $('signin-error').textContent = e.message;
    $('signin-error').hidden = false;
  }
  if (!session) {
    $('signin').hidden = false;
    const box = $('signin-buttons');
    if (!cfg.apps.length) box.append(el('p', { class: 'error', text: `No application may sign in to this board: add ${redirectURI} to an application's spaRedirectUris in the directory file.` }));
    for (const app of cfg.apps) {
      const b = el('button', { type: 'button', class: 'primary', text: cfg.apps.length > 1 ? 'Sign in to ' + app.tenantName : 'Sign in' });
      b.addEventListener('click', () => signIn(app));
      box.append(b);
    }
    performance.mark('board-ready');
    return;
  }
  $('who').hidden = false;
  $('me-name').textContent = session.idClaims.name || session.idClaims.preferred_username;
  $('signout').addEventListener('click', signOut);
  $('mine').hidden = false;
  $('people').hidden = false;
  if (cfg.dev) {
    $('devclock').hidden = false;
    for (const b of document.querySelectorAll('[data-advance]')) b.addEventListener('click', () => advance(b.dataset.advance));
    readClock();
    setInterval(tick, 1000);
    // The clock can be moved elsewhere too (`presenced clock advance`,
    // another tab): read it again now and then, so the time shown and the
    // board's token freshness follow the server's.
    setInterval(() => readClock().catch(() => {}), 5000);
  }
  $('my-why').addEventListener('click', () => openExplain(session.idClaims.oid, $('my-why')));
  $('preferred-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const [availability, activity] = $('pref').value.split('/');
    mine('setUserPreferredPresence', { availability, activity, expirationDuration: $('pref-for').value });
  });
  $('pref-reset').addEventListener('click', () => mine('clearUserPreferredPresence', {}));
  $('status-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const msg = { statusMessage: { message: { content: $('status-text').value, contentType: 'text' } } };
    // The expiry is the server's time plus the duration chosen: read that
    // time now, as the clock may have been moved elsewhere (the CLI,
    // another tab) since the board last read it.
    if ($('status-for').value && cfg.dev) await readClock().catch(() => {});
    if ($('status-for').value) msg.statusMessage.expiryDateTime = expiryFrom($('status-for').value);
    mine('setStatusMessage', msg);
  });
  $('status-clear').addEventListener('click', () => { $('status-text').value = ''; mine('setStatusMessage', { statusMessage: { message: { content: '', contentType: 'text' } } }); });
  let debounce;
  $('filter').addEventListener('input', () => {
    listing++; // what is loading was asked for another filter: it shows nothing
    clearTimeout(debounce);
    debounce = setTimeout(() => { lastEventId = ''; loadPeople(false); }, 250);
  });
  $('more').addEventListener('click', () => loadPeople(true));
  try {
    showMine(await api('/v1.0/me/presence'), false);
  } catch (e) {
    if (/expired|revoked|not valid|refresh/i.test(e.message)) { sessionStorage.removeItem(STORE); location.reload(); return; }
  }
  await loadPeople(false);
  performance.mark('board-ready');
}
start();
