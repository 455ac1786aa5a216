/**
 * The floor: what GET /user/user costs with no framework. Bare node:http, the same driver (pg, a pool of
 * the service's size), the same JWT verification (the service's own verifier: jose, HS256 pinned) and the
 * same indexed lookup of user and session in one round trip, as a named prepared statement. Fair, not
 * crippled: it checks everything the service checks (active user, open session, tokens_valid_after) and
 * answers the same bodies — it only leaves out the framework (routing, hooks, schemas, logging, headers).
 * `DATABASE_URL=… SECRET_KEY=… PORT=… node --import tsx bench/floor-server.ts`
 */
import { createServer, type ServerResponse } from 'node:http';
import pg from 'pg';
import { systemClock } from '../src/clock.js';
import { createAccessTokens, hmacKeys } from '../src/crypto/jwt.js';
import { defaultPoolSize } from '../src/db/client.js';

const { DATABASE_URL, SECRET_KEY, PORT = '8100' } = process.env;
if (!DATABASE_URL || !SECRET_KEY) throw new Error('DATABASE_URL and SECRET_KEY are required');

const pool = new pg.Pool({ connectionString: DATABASE_URL, max: defaultPoolSize() });
pool.on('error', () => {});
const accessTokens = createAccessTokens(hmacKeys(SECRET_KEY), { ttlSeconds: 1800 }, systemClock);

// The statement the service's findPrincipal makes for a token with uid and sid.
const PRINCIPAL = `select users.id, users.username, users.email, users.is_active, users.tokens_valid_after,
                          sessions.id as session_id, sessions.revoked_at
                   from users left join sessions on sessions.id = $2 and sessions.user_id = users.id
                   where users.id = $1 limit 1`;

const BEARER = /^bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

function send(res: ServerResponse, status: number, body: string, challenge = false): void {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
  if (challenge) headers['www-authenticate'] = 'Bearer error="invalid_token"';
  res.writeHead(status, headers).end(body);
}

const UNAUTHORISED = JSON.stringify({ detail: 'Could not validate credentials' });

interface Row {
  id: number;
  username: string;
  email: string;
  is_active: boolean;
  tokens_valid_after: Date | null;
  session_id: string | null;
  revoked_at: Date | null;
}

async function profile(authorization: string | undefined, res: ServerResponse): Promise<void> {
  const token = authorization === undefined ? null : BEARER.exec(authorization)?.[1];
  if (!token) return send(res, 401, UNAUTHORISED, true);
  let claims;
  try {
    claims = await accessTokens.verify(token);
  } catch {
    return send(res, 401, UNAUTHORISED, true);
  }
  if (claims.uid === undefined || claims.sid === undefined) return send(res, 401, UNAUTHORISED, true);
  const { rows } = await pool.query<Row>({ name: 'principal', text: PRINCIPAL, values: [claims.uid, claims.sid] });
  const user = rows[0];
  if (user === undefined) return send(res, 404, JSON.stringify({ detail: 'User not found' }));
  const revokedBefore = user.tokens_valid_after !== null && (claims.iat ?? 0) * 1000 < user.tokens_valid_after.getTime();
  if (!user.is_active || user.session_id === null || user.revoked_at !== null || revokedBefore) return send(res, 401, UNAUTHORISED, true);
  send(res, 200, JSON.stringify({ username: user.username, email: user.email, id: user.id }));
}

const server = createServer((req, res) => {
  const done = (promise: Promise<void>) =>
    promise.catch(() => {
      if (!res.headersSent) send(res, 500, JSON.stringify({ detail: 'Internal Server Error' }));
    });
  if (req.method === 'GET' && req.url === '/user/user') return void done(profile(req.headers.authorization, res));
  if (req.method === 'GET' && req.url === '/readyz') return void done(pool.query('select 1').then(() => send(res, 200, '{"status":"ok"}')));
  send(res, 404, JSON.stringify({ detail: 'Not Found' }));
});
server.keepAliveTimeout = 30_000;
server.listen(Number(PORT), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.end().then(() => process.exit(0));
});
