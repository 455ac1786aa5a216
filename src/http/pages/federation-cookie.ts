import type { FastifyReply, FastifyRequest } from 'fastify';
import { open, seal } from '../../crypto/aead.js';
import type { FlowChecks } from '../../services/federation/authorization-flow.js';

/** How long a person may take at the provider, from our redirect to its callback. */
export const FLOW_TTL_SECONDS = 10 * 60;

/** What the browser carries between the start of a provider sign-in and its callback. */
export interface FlowState extends FlowChecks {
  provider: string;
  /** The checked redirect_to, or '' for the account page. */
  redirectTo: string;
  /** Set when a signed-in account started the flow to link the identity to itself. */
  linkUserId: number | null;
  expiresAt: number;
}

const SEAL_CONTEXT = 'oidc-flow';

/**
 * `state`, `nonce` and the PKCE verifier live in a cookie sealed (AES-256-GCM, a key derived from
 * SECRET_KEY) and HttpOnly: a callback is accepted only from the browser that started the flow — the
 * login-CSRF fix of fastify-users CVE-2025-68481 — and nothing is stored server-side until it comes back.
 * SameSite=Lax, not Strict: the provider sends the browser back with a cross-site top-level GET.
 * @see RFC 9700 §4.7.1
 */
export function flowCookie(secure: boolean) {
  const name = secure ? '__Host-account_oidc' : 'account_oidc';
  const options = { path: '/', httpOnly: true, secure, sameSite: 'lax' as const };
  return {
    set(reply: FastifyReply, key: Buffer, flow: FlowState) {
      reply.setCookie(name, seal(JSON.stringify(flow), key, SEAL_CONTEXT), { ...options, maxAge: FLOW_TTL_SECONDS });
    },
    /** The flow this browser started, if any, unaltered and not expired; the cookie is cleared either way (single use). */
    take(request: FastifyRequest, reply: FastifyReply, key: Buffer, now: Date): FlowState | undefined {
      const value = request.cookies[name];
      reply.clearCookie(name, options);
      if (value === undefined || value.length > 4096) return undefined;
      const opened = open(value, key, SEAL_CONTEXT);
      if (opened === undefined) return undefined;
      const flow = JSON.parse(opened) as FlowState;
      return flow.expiresAt > now.getTime() ? flow : undefined;
    },
  };
}
