import Type from 'typebox';
import { ROLE_PATTERN } from '../../services/admin/roles.js';
import { Email, Login, Username } from './common.js';

/** Path and query values arrive as strings (no type coercion): numbers are digit strings, checked again in range. */
const Digits = (maxDigits: number, description: string) => Type.String({ pattern: `^[1-9][0-9]{0,${maxDigits - 1}}$`, description });

/**
 * A time given by an admin. Years 1000–9999 only: `date-time` alone admits year 0000, which JavaScript
 * accepts and PostgreSQL refuses (a 500 instead of a 422).
 */
const Instant = (description: string) =>
  Type.String({ format: 'date-time', pattern: '^[1-9][0-9]{3}-', description: `${description} (ISO 8601, years 1000–9999)` });

export const UserIdParams = Type.Object({ id: Digits(10, 'a user id') });

const Limit = Digits(3, 'page size, 1–200 (default 50)');

export const Role = Type.String({ pattern: ROLE_PATTERN, description: "1–64 letters, digits, '_', '.', ':' or '-'", examples: ['admin'] });

const Status = Type.Union([Type.Literal('active'), Type.Literal('disabled'), Type.Literal('banned')], {
  description: '`disabled`: is_active is false; `banned`: banned_until is in the future; `active`: neither',
});

export const UserListQuery = Type.Object({
  /** Prefix of the username or the e-mail, any letter case. */
  q: Type.Optional(Login),
  status: Type.Optional(Status),
  role: Type.Optional(Role),
  after: Type.Optional(Digits(10, 'cursor: the `next_after` of the previous page')),
  limit: Type.Optional(Limit),
});

export const AdminUser = Type.Object({
  id: Type.Integer(),
  username: Type.String(),
  email: Type.String(),
  email_verified: Type.Boolean(),
  roles: Type.Array(Type.String()),
  status: Status,
  is_active: Type.Boolean(),
  banned_until: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  last_login_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export const AdminUserDetail = Type.Object({
  ...AdminUser.properties,
  active_sessions: Type.Integer({ description: 'Sessions neither ended, expired nor idle' }),
});

export const UserPage = Type.Object({
  users: Type.Array(AdminUser),
  next_after: Type.Union([Type.Integer(), Type.Null()], { description: 'Pass as `after` for the next page; null on the last page' }),
});

export const UserChanges = Type.Object(
  {
    username: Type.Optional(Username),
    email: Type.Optional(Email),
    email_verified: Type.Optional(Type.Boolean({ description: 'Defaults to false when `email` changes' })),
    roles: Type.Optional(Type.Array(Role, { maxItems: 32, description: 'The whole list: it replaces the current roles' })),
    is_active: Type.Optional(Type.Boolean({ description: 'false disables the account and ends its sessions and tokens at once' })),
    banned_until: Type.Optional(
      Type.Union([Instant('an instant'), Type.Null()], {
        description: 'Login refused until then (sessions and tokens end at once); null lifts the ban',
      }),
    ),
  },
  // Not `additionalProperties: false`, which Fastify's Ajv answers by dropping the field in silence: an admin
  // who sends `password` (or misspells `is_active`) must hear that nothing of it was applied.
  { additionalProperties: Type.Never(), minProperties: 1 },
);

export const EndedSessions = Type.Object({ ended: Type.Integer({ description: 'Sessions that were open' }) });

export const EventQuery = Type.Object({
  type: Type.Optional(Type.String({ pattern: '^[a-z_]{1,64}$', description: 'one event type, e.g. login_failed' })),
  since: Type.Optional(Instant('events at or after this instant')),
  until: Type.Optional(Instant('events before this instant')),
  before: Type.Optional(Digits(15, 'cursor: the `next_before` of the previous page')),
  limit: Type.Optional(Limit),
});

export const EventPage = Type.Object({
  events: Type.Array(
    Type.Object({
      id: Type.Integer(),
      occurred_at: Type.String({ format: 'date-time' }),
      type: Type.String(),
      ip: Type.Union([Type.String(), Type.Null()]),
      user_agent: Type.Union([Type.String(), Type.Null()]),
      details: Type.Unknown({ description: 'Per type; admin actions carry `actorId`, the acting admin' }),
    }),
  ),
  next_before: Type.Union([Type.Integer(), Type.Null()], { description: 'Pass as `before` for the next page; null on the last page' }),
});
