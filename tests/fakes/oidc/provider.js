// A real OpenID Connect provider (panva's oidc-provider, OpenID Certified) on 127.0.0.1 for Studio's
// single sign-on tests. Started by tests/fakes/oidc/__init__.py: `node provider.js` with
// OIDC_PORT set; prints "ready <issuer>" once it listens.
//
// - One confidential client, "studio" (secret "studio-secret"), whose redirect URI is
//   /login/oidc/callback on any loopback host and port (each test's server has its own port).
// - Accounts are the ACCOUNTS below, signed in by name on a minimal page (/interaction/<uid>), which
//   also grants the requested scopes (no separate consent step). "Cancel" answers access_denied.
// - Scopes: openid, email (email, email_verified), profile (name), groups (groups).
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || 0);
const issuer = `http://127.0.0.1:${port}`;
const CALLBACK_PATH = '/login/oidc/callback';

const ACCOUNTS = {
  alice: { email: 'alice@example.org', email_verified: true, name: 'Alice Example', groups: ['staff'] },
  ann: { email: 'ann@example.org', email_verified: true, name: 'Ann Admin', groups: ['staff', 'studio-admins'] },
  max: { email: 'max@example.org', email_verified: true, name: 'Max Moderator', groups: ['studio-moderators'] },
  // Says it owns an address it never proved: must not take over the account that has it.
  mallory: { email: 'victim@example.org', email_verified: false, name: 'Mallory', groups: [] },
  // A verified address that an existing password account has: links to it.
  victor: { email: 'victim@example.org', email_verified: true, name: 'Victor Victim', groups: [] },
  // No e-mail at all.
  nomail: { name: 'No Mail', groups: [] },
};

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const configuration = {
  clients: [{
    client_id: 'studio',
    client_secret: 'studio-secret',
    redirect_uris: [`http://127.0.0.1${CALLBACK_PATH}`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys: [{ ...signingKey, kid: 'test-key', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: ['studio-test-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  pkce: { methods: ['S256'], required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
};

const provider = new Provider(issuer, configuration);

// Any loopback host and port, path /login/oidc/callback (RFC 8252 allows this for native apps only).
provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
  let url;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost'].includes(url.hostname)
    && url.pathname === CALLBACK_PATH && !url.search && !url.hash;
};

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(uid, clientId, error) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test provider sign-in</title></head>
<body><main><h1>Test provider</h1><p>Sign in to ${escape(clientId)}.</p>
${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Username <input name="login" autocomplete="off" autofocus></label>
<button type="submit">Sign in</button></form>
<form method="post" action="/interaction/${escape(uid)}/abort"><button type="submit">Cancel</button></form>
</main></body></html>`;
}

async function formBody(req) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return new URLSearchParams(raw);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (req.method === 'GET' && !action) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(page(uid, details.params.client_id));
    return;
  }
  if (req.method === 'POST' && action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'The person cancelled the sign-in.',
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const login = (await formBody(req)).get('login') || '';
    if (!Object.hasOwn(ACCOUNTS, login)) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page(uid, details.params.client_id, 'No such account.'));
      return;
    }
    const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, {
      login: { accountId: login }, consent: { grantId },
    }, { mergeWithLastSubmission: false });
    return;
  }
  res.writeHead(404);
  res.end();
}

const handleOidc = provider.callback();
const server = http.createServer((req, res) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(login|abort))?$/.exec(req.url.split('?')[0]);
  if (!match) {
    handleOidc(req, res);
    return;
  }
  interaction(req, res, match[1], match[2]).catch((error) => {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${error.message}`);
  });
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
