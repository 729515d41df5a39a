// A single-page app as MSAL's samples write one: sign in with
// loginRedirect, take the answer with handleRedirectPromise, get tokens
// with acquireTokenSilent (and a refresh with forceRefresh), call Graph,
// sign out with logoutRedirect. Each step's outcome goes into
// window.report (and #report), which the Go test reads; report.state is
// "signed-out", "done" or "failed".
'use strict';
const cfg = window.msalTest; // written by the test's /config.js
const report = window.report = { state: 'loading', log: [] };
const scopes = [cfg.scope]; // a named Graph scope, or Graph's .default

function show(state) {
  if (state) report.state = state;
  document.getElementById('state').textContent = report.state;
  document.getElementById('report').textContent = JSON.stringify(report, null, 1);
}

const pca = new msal.PublicClientApplication({
  auth: {
    clientId: cfg.clientId,
    authority: cfg.authority,
    knownAuthorities: [cfg.host],
    redirectUri: cfg.redirectUri,
    postLogoutRedirectUri: cfg.redirectUri,
  },
  cache: { cacheLocation: 'sessionStorage' },
  system: {
    loggerOptions: {
      logLevel: msal.LogLevel.Warning,
      piiLoggingEnabled: false,
      loggerCallback: (level, message) => { report.log.push(message); },
    },
  },
});

async function presence(token) {
  const r = await fetch(cfg.server + '/v1.0/me/presence', { headers: { Authorization: 'Bearer ' + token } });
  const body = await r.json();
  return { status: r.status, id: body.id || '', availability: body.availability || '', error: body.error ? body.error.code : '' };
}

async function main() {
  await pca.initialize();
  const back = await pca.handleRedirectPromise();
  document.getElementById('signin').onclick = () => {
    pca.loginRedirect({ scopes: ['openid', 'profile', 'offline_access', ...scopes] }).catch(fail);
  };
  document.getElementById('signout').onclick = () => {
    const account = pca.getActiveAccount() || pca.getAllAccounts()[0];
    // id_token_hint names the sign-in to end: presenced then revokes its
    // refresh tokens (MSAL sends it when asked to).
    pca.logoutRedirect({ account, idTokenHint: account && account.idToken }).catch(fail);
  };
  report.accounts = pca.getAllAccounts().length;
  if (!back) {
    show(report.accounts ? 'signed-in' : 'signed-out');
    return;
  }
  report.redirect = { user: back.account.username, name: back.account.name, tenantId: back.account.tenantId,
    homeAccountId: back.account.homeAccountId, nonce: !!(back.idTokenClaims && back.idTokenClaims.nonce), scopes: back.scopes };
  pca.setActiveAccount(back.account);
  show('signed-in');

  const first = await pca.acquireTokenSilent({ account: back.account, scopes });
  report.silent = { fromCache: first.fromCache, scopes: first.scopes, sameAsRedirect: first.accessToken === back.accessToken };
  report.presence = await presence(first.accessToken);
  show();

  const fresh = await pca.acquireTokenSilent({ account: back.account, scopes, forceRefresh: true });
  report.refresh = { fromCache: fresh.fromCache, differs: fresh.accessToken !== first.accessToken };
  report.presenceAfterRefresh = await presence(fresh.accessToken);
  show('done');
}

function fail(e) {
  report.error = (e && (e.errorCode || e.name)) + ': ' + (e && (e.errorMessage || e.message));
  show('failed');
}

main().catch(fail);
