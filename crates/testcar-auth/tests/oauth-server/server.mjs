// A real OAuth2 authorization server (npm oidc-provider) for testcar-auth's tests:
// client-credentials grant with a short token lifetime, plus a tiny protected resource
// (/api/whoami) that accepts only live access tokens issued here.
//
// env: PORT, TOKEN_TTL (seconds), CLIENTS (JSON array of oidc-provider client metadata),
// TESTCAR_TOOLS (where scripts/setup.d/51-oidc-provider.sh installed oidc-provider).
// Prints "ready <issuer>" on stdout once listening.
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const tools = process.env.TESTCAR_TOOLS;
const { default: Provider } = await import(
  pathToFileURL(path.join(tools, 'node_modules', 'oidc-provider', 'lib', 'index.js')).href
);

const port = Number(process.env.PORT);
const ttl = Number(process.env.TOKEN_TTL || '60');
const clients = JSON.parse(process.env.CLIENTS || '[]');
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients,
  scopes: ['api:read', 'api:write'],
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
  },
  ttl: { ClientCredentials: ttl },
});
provider.proxy = true;
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const callback = provider.callback();
const bearer = (req) => {
  const h = req.headers.authorization || '';
  return h.startsWith('Bearer ') ? h.slice(7) : null;
};

http
  .createServer(async (req, res) => {
    if (req.url === '/api/whoami') {
      const token = bearer(req);
      const found = token && (await provider.ClientCredentials.find(token));
      if (!found || found.isExpired) {
        res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' });
        res.end('{"error":"invalid_token"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ client: found.clientId, scope: found.scope || '' }));
      return;
    }
    if (req.url === '/test/revoke' && req.method === 'POST') {
      // revoke one token (body = the token) so the next call with it gets 401
      let body = '';
      for await (const chunk of req) body += chunk;
      const found = await provider.ClientCredentials.find(body.trim());
      if (found) await found.destroy();
      res.writeHead(found ? 204 : 404);
      res.end();
      return;
    }
    callback(req, res);
  })
  .listen(port, '127.0.0.1', () => console.log(`ready ${issuer}`));
