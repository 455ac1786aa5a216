import type { FastifyRequest } from 'fastify';
import { DomainError, InvalidInputError } from '../errors.js';
import { ADMIN_ROLE, hasRole } from '../services/admin/roles.js';

/**
 * onRequest hook after `requireUser`: the role is checked on the user row this request just read, not on
 * the token's `roles` claim, so removing the role takes effect on the very next request (ASVS 5.0 8.3.2).
 */
export async function requireAdmin(request: FastifyRequest): Promise<void> {
  if (!hasRole(request.user!, ADMIN_ROLE)) throw new DomainError('ADMIN_ROLE_REQUIRED');
}

const MAX_INTEGER = 2 ** 31 - 1;

/** A digit string (already checked by the schema) as a number; an id past PostgreSQL's `integer` names nothing. */
export function userIdParam(id: string): number {
  const value = Number(id);
  if (value > MAX_INTEGER) throw new DomainError('USER_NOT_FOUND');
  return value;
}

/** A query number within its range, or FastAPI's 422 naming it. */
export function queryNumber(name: string, value: string | undefined, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (n > max) throw new InvalidInputError([{ loc: ['query', name], msg: `Input should be less than or equal to ${max}`, type: 'less_than_equal' }]);
  return n;
}
