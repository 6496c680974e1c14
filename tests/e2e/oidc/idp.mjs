// A real OpenID Connect provider (the certified `oidc-provider` package) for the SSO tests.
//
// Started by tests/e2e/oidc_idp.py on a loopback port with a JSON configuration file:
//   { "port": 1234, "clients": [...client metadata...], "jwks": {"keys": [private JWK]},
//     "accounts": {"alice": {claims...}} }
// The signing key comes from the test, so the test can verify what this provider signs.
//
// Two test hooks, outside the provider's own routes:
//   PUT  /__test__/accounts/<id>   the account's claims (e.g. groups changed between sign-ins)
//   POST /__test__/next-id-token   {"set": {claim: value|null}, "resign": bool}: the next token
//        response's ID token gets these claims changed; re-signed with the provider's key when
//        "resign" (a well-signed token with a wrong nonce, audience, issuer or expiry), else
//        left with its original signature (a tampered token).
// Sign-in: /interaction/<uid> shows a one-field form (the account id); consent is granted at
// once (a first-party client), as an organization's own provider does.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
const accounts = config.accounts || {};
let nextIdToken = null;

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: config.jwks,
  conformIdTokenClaims: false, // claims in the ID token, as Keycloak and Entra ID send them
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      // the default page loads a web font from the internet; the tests have none
      async logoutSource(ctx, form) {
        ctx.body = `<!doctype html><html><head><title>Sign out</title></head><body>
          <h1>Sign out of the test identity provider?</h1>${form}
          <button type="submit" form="op.logoutForm" value="yes" name="logout"
            data-testid="idp-logout">Yes, sign me out</button></body></html>`;
      },
    },
  },
  pkce: { required: () => true },
  cookies: { keys: ['aigc-test-cookie-key'] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    if (!accounts[id]) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...accounts[id] }; } };
  },
});

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function changeIdToken(idToken, change) {
  const [header, payload, signature] = idToken.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  for (const [name, value] of Object.entries(change.set || {})) {
    if (value === null) delete claims[name];
    else claims[name] = value;
  }
  if (!change.resign) {
    const forged = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${header}.${forged}.${signature}`;
  }
  const jwk = config.jwks.keys[0];
  const key = await jose.importJWK(jwk, 'RS256');
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: jwk.kid }).sign(key);
}

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/__test__/accounts/') && ctx.method === 'PUT') {
    const id = decodeURIComponent(ctx.path.slice('/__test__/accounts/'.length));
    accounts[id] = JSON.parse(await readBody(ctx.req));
    ctx.body = { ok: true };
    return;
  }
  if (ctx.path === '/__test__/next-id-token' && ctx.method === 'POST') {
    nextIdToken = JSON.parse(await readBody(ctx.req));
    ctx.body = { ok: true };
    return;
  }
  if (ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (ctx.method === 'GET') {
      ctx.type = 'html';
      ctx.body = `<!doctype html><html><head><title>Test IdP</title></head><body>
        <h1>Test identity provider</h1>
        <form method="post" action="/interaction/${escapeHtml(details.uid)}">
          <label>Account <input name="login" data-testid="idp-login" autofocus></label>
          <button type="submit" data-testid="idp-submit">Sign in</button>
        </form></body></html>`;
      return;
    }
    const form = new URLSearchParams(await readBody(ctx.req));
    const accountId = form.get('login') || '';
    if (!accounts[accountId]) {
      ctx.status = 400;
      ctx.body = 'unknown account';
      return;
    }
    const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    grant.addOIDCScope(String(details.params.scope));
    const grantId = await grant.save();
    const url = await provider.interactionResult(ctx.req, ctx.res, {
      login: { accountId },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(url);
    return;
  }
  await next();
  if (ctx.path === '/token' && nextIdToken && ctx.body && ctx.body.id_token) {
    const change = nextIdToken;
    nextIdToken = null;
    ctx.body = { ...ctx.body, id_token: await changeIdToken(ctx.body.id_token, change) };
  }
});

provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`READY ${issuer}\n`);
});
