import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessTokenClaims } from '../crypto/jwt.js';
import type { UserRow } from '../db/schema.js';
import { DomainError } from '../errors.js';
import { authenticateAccessToken } from '../services/sessions/access-tokens.js';
import type { ClientInfo } from '../services/deps.js';
import { canonicalAddress } from './client-address.js';

declare module 'fastify' {
  interface FastifyRequest {
    user: UserRow | null;
    claims: AccessTokenClaims | null;
  }
}

/** RFC 6750 §2.1; the scheme name is case-insensitive (RFC 9110 §11.1). */
const BEARER = /^bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

/** The bearer token of a request, or undefined when there is no Authorization header. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined || header === '') return undefined;
  const match = BEARER.exec(header);
  if (match === null) throw new DomainError('INVALID_TOKEN');
  return match[1]!;
}

export function clientInfo(request: FastifyRequest): ClientInfo {
  return { ip: request.ip === undefined ? null : canonicalAddress(request.ip), userAgent: request.headers['user-agent'] ?? null, requestId: request.id };
}

/**
 * onRequest hook for bearer-protected routes (it runs before the body is parsed: strangers get 401, not
 * 422). Loads `request.user` and `request.claims`. No token at all gets a bare `Bearer` challenge; a bad
 * one adds `error="invalid_token"` (RFC 6750 §3.1).
 */
export async function requireUser(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
  const token = bearerToken(request);
  if (token === undefined) {
    reply.header('www-authenticate', 'Bearer');
    return reply.code(401).send({ detail: 'Could not validate credentials' });
  }
  const { user, claims } = await authenticateAccessToken(this.deps, token);
  request.user = user;
  request.claims = claims;
}
