import Type from 'typebox';

export const Session = Type.Object({
  id: Type.String({ format: 'uuid' }),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.String({ format: 'date-time', description: 'Last refresh of this session' }),
  expires_at: Type.String({ format: 'date-time', description: 'Absolute end of the session' }),
  user_agent: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean({ description: 'The session of the token making this request' }),
  amr: Type.Array(Type.String(), { description: 'How its login was authenticated (RFC 8176): ["pwd"], or ["pwd", "otp"] with the second factor' }),
});

/**
 * The 8-4-4-4-12 form only: the `uuid` format also admits `urn:uuid:…`, which PostgreSQL's uuid type
 * refuses, so the lookup would fail (500) instead of finding nothing (404).
 */
export const SessionIdParams = Type.Object({
  id: Type.String({
    format: 'uuid',
    pattern: '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$',
    description: 'a session id (a UUID)',
  }),
});

export const TokenParam = Type.Object({
  token: Type.Optional(Type.String({ maxLength: 4096 })),
  token_type_hint: Type.Optional(Type.String({ maxLength: 64, description: 'access_token or refresh_token; optional' })),
});

export const IntrospectionResponse = Type.Object(
  {
    active: Type.Boolean(),
    token_type: Type.Optional(Type.String()),
    sub: Type.Optional(Type.String()),
    username: Type.Optional(Type.String()),
    uid: Type.Optional(Type.Integer()),
    sid: Type.Optional(Type.String()),
    roles: Type.Optional(Type.Array(Type.String(), { description: "The user's current roles; absent when none" })),
    exp: Type.Optional(Type.Integer()),
    iat: Type.Optional(Type.Integer()),
    jti: Type.Optional(Type.String()),
    amr: Type.Optional(Type.Array(Type.String(), { description: 'Sessions opened with the second factor: ["pwd", "otp"] (RFC 8176)' })),
    scope: Type.Optional(Type.String()),
  },
  { description: 'RFC 7662 §2.2' },
);
