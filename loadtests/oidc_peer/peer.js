// node oidc-provider configured like the Mon Espace provider, for `python -m loadtests.oidc_bench`.
//
// One process, two ports on 127.0.0.1:
//   --port       the provider itself (discovery, JWKS, token, introspection, revocation,
//                userinfo), what the load generator calls;
//   --mint-port  POST /mint {kind, count, ...}: authorization codes, refresh tokens and user
//                access tokens made through the provider's own models (a grant each), what a
//                real login would have left behind. Only the benchmark calls it.
// When both listen it prints one line of JSON ({"ready": true, ...}) on stdout.
//
// The configuration is the one the comparison is fair with: PKCE (S256) required for every
// client, refresh tokens issued with every code and rotated at every use, introspection,
// revocation, client credentials, userinfo, one confidential client authenticating with
// client_secret_basic, opaque access tokens, RS256 ID tokens; the same lifetimes as the
// project (edge.py). The store is the library's in-memory adapter; only its capacity is raised
// (the default keeps 1,000 entries, fewer than one benchmark round creates).

import { createServer } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    'mint-port': { type: 'string' },
    'client-id': { type: 'string', default: 'bench-rp' },
    'client-secret': { type: 'string', default: 'bench-secret' },
    'redirect-uri': { type: 'string', default: 'http://127.0.0.1/bench-rp/callback' },
  },
});

const HOST = '127.0.0.1';
const port = Number(args.port);
const mintPort = Number(args['mint-port']);
const issuer = `http://${HOST}:${port}`;
const SCOPE = 'openid profile';

const store = new LRU({ maxSize: 2_000_000 });

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };

// A person, as the project's demo has them: standard claims of the profile scope.
async function findAccount(_ctx, accountId) {
  return {
    accountId,
    async claims() {
      return {
        sub: accountId,
        given_name: 'Bench',
        family_name: `Person ${accountId}`,
        name: `Bench Person ${accountId}`,
        locale: 'fr',
      };
    },
  };
}

const provider = new Provider(issuer, {
  adapter: (name) => new MemoryAdapter(name, store),
  clients: [
    {
      client_id: args['client-id'],
      client_secret: args['client-secret'],
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [args['redirect-uri']],
      id_token_signed_response_alg: 'RS256',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomUUID()] },
  findAccount,
  claims: { openid: ['sub'], profile: ['given_name', 'family_name', 'name', 'locale'] },
  scopes: ['openid', 'profile'],
  pkce: { required: () => true },
  // As the project: a refresh token with every code, without offline_access, rotated each use.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    userinfo: { enabled: true },
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    ClientCredentials: 3600,
    IdToken: 300,
    RefreshToken: 8 * 3600,
    Grant: 8 * 3600,
    Session: 8 * 3600,
  },
});

// -- minting: what logins would have left in the store -------------------------------------

async function newGrant(client, accountId) {
  const grant = new provider.Grant({ accountId, clientId: client.clientId });
  grant.addOIDCScope(SCOPE);
  return grant.save();
}

const MINTERS = {
  async codes(client, accountId, body) {
    const grantId = await newGrant(client, accountId);
    return new provider.AuthorizationCode({
      accountId,
      client,
      grantId,
      scope: SCOPE,
      redirectUri: args['redirect-uri'],
      codeChallenge: body.code_challenge,
      codeChallengeMethod: 'S256',
      authTime: Math.floor(Date.now() / 1000),
      acr: 'http://eidas.europa.eu/LoA/substantial',
    }).save();
  },
  async refresh_tokens(client, accountId) {
    const grantId = await newGrant(client, accountId);
    return new provider.RefreshToken({
      accountId,
      client,
      grantId,
      gty: 'authorization_code',
      scope: SCOPE,
      rotations: 0,
      authTime: Math.floor(Date.now() / 1000),
    }).save();
  },
  async access_tokens(client, accountId) {
    const grantId = await newGrant(client, accountId);
    return new provider.AccessToken({
      accountId,
      client,
      grantId,
      gty: 'authorization_code',
      scope: SCOPE,
    }).save();
  },
};

async function mint(body) {
  const minter = MINTERS[body.kind];
  if (!minter) throw new Error(`kind: one of ${Object.keys(MINTERS).join(', ')}`);
  const client = await provider.Client.find(args['client-id']);
  const values = [];
  for (let i = 0; i < body.count; i += 1) {
    values.push(await minter(client, `person-${i % 50}`, body));
  }
  return values;
}

const minter = createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  try {
    if (req.method !== 'POST' || req.url !== '/mint') throw new Error('POST /mint only');
    const values = await mint(JSON.parse(Buffer.concat(chunks).toString()));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ values }));
  } catch (err) {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: String(err && err.stack ? err.stack : err) }));
  }
});

provider.listen(port, HOST, () => {
  minter.listen(mintPort, HOST, () => {
    process.stdout.write(`${JSON.stringify({ ready: true, issuer, mint: `http://${HOST}:${mintPort}` })}\n`);
  });
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
