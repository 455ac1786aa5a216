import { DomainError, InvalidInputError } from '../errors.js';
import { recordSecurityEvent } from './audit.js';
import type { ClientInfo, ServiceDeps } from './deps.js';
import { startSession } from './sessions.js';
import { issueTokens, refreshTokens, type TokenPair } from './tokens.js';
import { passwordWeakness, type PasswordWeakness } from './passwords-policy.js';
import { authenticate } from './users.js';

export interface TokenRequest {
  grant_type?: string;
  username?: string;
  password?: string;
  refresh_token?: string;
}

function required<K extends keyof TokenRequest>(request: TokenRequest, fields: K[]): void {
  const missing = fields.filter((f) => request[f] === undefined);
  if (missing.length > 0) {
    throw new InvalidInputError(missing.map((f) => ({ loc: ['body', f], msg: 'Field required', type: 'missing' })));
  }
}

/** A password grant's reply: `weak_password` when the password breaks today's rules (see `passwordWeakness`). */
export type LoginTokens = TokenPair & { weak_password?: PasswordWeakness };

/** A password login: checks the credentials, opens a session and issues its first tokens. */
export async function loginWithPassword(deps: ServiceDeps, login: string, password: string, client: ClientInfo): Promise<LoginTokens> {
  const user = await authenticate(deps, login, password, client);
  const weakness = passwordWeakness(deps, password, user);
  const session = await startSession(deps, user, client);
  if (session === undefined) {
    // The password was changed, or every session ended, while this login checked the old credentials.
    await recordSecurityEvent(deps, { type: 'login_failed', userId: user.id, client, details: { login: login.slice(0, 254), reason: 'credentials_changed' } });
    throw new DomainError('INVALID_CREDENTIALS');
  }
  await recordSecurityEvent(deps, {
    type: 'login_succeeded',
    userId: user.id,
    client,
    details: { sessionId: session.id, ...(weakness && { weakPassword: weakness.type }) },
  });
  const tokens = await issueTokens(deps, user, session);
  return weakness ? { ...tokens, weak_password: weakness } : tokens;
}

/**
 * The token endpoint's grants. `grant_type` may be omitted or empty (the Python service's clients never
 * needed it) and then means `password`.
 * @see RFC 6749 §4.3 (password), §6 (refresh_token), §5.2 (unsupported_grant_type)
 */
export async function exchangeGrant(deps: ServiceDeps, request: TokenRequest, client: ClientInfo): Promise<LoginTokens> {
  // An empty field counts as absent, as FastAPI reads forms: its clients often send `grant_type=`.
  switch (request.grant_type || 'password') {
    case 'password':
      required(request, ['username', 'password']);
      return loginWithPassword(deps, request.username!, request.password!, client);
    case 'refresh_token':
      required(request, ['refresh_token']);
      return refreshTokens(deps, request.refresh_token!, client);
    default:
      throw new DomainError('UNSUPPORTED_GRANT_TYPE');
  }
}
