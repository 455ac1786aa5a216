import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';

/** What the next ID token says, and how it is spoiled for the tampering tests. */
export interface IssueOptions {
  /** From the authorization request our service made (the test reads it off the redirect). */
  nonce: string;
  claims: { sub: string; email?: string; email_verified?: boolean | string };
  /** Overrides of the standard claims (aud, iss, nonce, exp...) — a token that must be refused. */
  tamper?: Partial<JWTPayload> & Record<string, unknown>;
  /** Sign with a key that is not in the JWKS. */
  foreignKey?: boolean;
  /** What the UserInfo endpoint answers for this code's access token (default: only the ID token's `sub`). */
  userinfo?: Record<string, unknown>;
}

/**
 * A minimal OpenID provider on a loopback port: a discovery document, a JWKS and a token endpoint that
 * answers each code once with the ID token the test asked for. It signs with a real RS256 key (jose), so
 * the service's validation is the real one; only the login pages are missing (the test makes the codes).
 */
export async function startFakeIdp(clientId: string, port = 0) {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const foreign = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const codes = new Map<string, IssueOptions>();
  const userinfo = new Map<string, Record<string, unknown>>();
  let issuer = '';
  let redeemed = 0;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        userinfo_endpoint: `${issuer}/userinfo`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_post'],
      });
    }
    if (url.pathname === '/jwks') return json(200, { keys: [jwk] });
    if (url.pathname === '/userinfo') {
      const issued = userinfo.get((req.headers.authorization ?? '').replace(/^Bearer /i, ''));
      return issued === undefined ? json(401, { error: 'invalid_token' }) : json(200, issued);
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', async () => {
        const form = new URLSearchParams(body);
        const issue = codes.get(form.get('code') ?? '');
        codes.delete(form.get('code') ?? '');
        if (issue === undefined || form.get('client_id') !== clientId || !form.get('code_verifier')) return json(400, { error: 'invalid_grant' });
        redeemed++;
        const now = Math.floor(Date.now() / 1000);
        const idToken = await new SignJWT({ ...issue.claims, nonce: issue.nonce, iss: issuer, aud: clientId, iat: now, exp: now + 300, ...issue.tamper })
          .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
          .sign(issue.foreignKey ? foreign.privateKey : privateKey);
        const accessToken = `at-${form.get('code')}`;
        userinfo.set(accessToken, issue.userinfo ?? { sub: issue.claims.sub });
        json(200, { access_token: accessToken, token_type: 'Bearer', expires_in: 300, id_token: idToken });
      });
      return;
    }
    json(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let next = 0;
  return {
    issuer,
    get redeemed() {
      return redeemed;
    },
    /** A code the token endpoint will answer once, as if the person had signed in at the provider. */
    code(options: IssueOptions): string {
      const code = `code-${++next}`;
      codes.set(code, options);
      return code;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
