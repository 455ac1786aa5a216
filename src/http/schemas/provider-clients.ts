import Type from 'typebox';

const Uri = Type.String({ minLength: 1, maxLength: 2048 });
const GrantType = Type.Union([Type.Literal('authorization_code'), Type.Literal('refresh_token'), Type.Literal('client_credentials')]);

export const ClientView = Type.Object({
  client_id: Type.String(),
  name: Type.String(),
  public: Type.Boolean({ description: 'no secret: a browser or mobile app, PKCE alone binds its codes' }),
  first_party: Type.Boolean({ description: 'our own application: no consent page' }),
  redirect_uris: Type.Array(Type.String()),
  post_logout_redirect_uris: Type.Array(Type.String()),
  grant_types: Type.Array(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
});

export const ClientCreated = Type.Object({
  client: ClientView,
  client_secret: Type.Optional(Type.String({ description: 'shown this once; only a salt is stored' })),
});

export const ClientInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    redirect_uris: Type.Array(Uri, { maxItems: 20, default: [] }),
    post_logout_redirect_uris: Type.Array(Uri, { maxItems: 20, default: [] }),
    grant_types: Type.Array(GrantType, { minItems: 1, maxItems: 3, default: ['authorization_code', 'refresh_token'] }),
    public: Type.Boolean({ default: false }),
    first_party: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);

export const ClientChanges = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    redirect_uris: Type.Optional(Type.Array(Uri, { maxItems: 20 })),
    post_logout_redirect_uris: Type.Optional(Type.Array(Uri, { maxItems: 20 })),
    grant_types: Type.Optional(Type.Array(GrantType, { minItems: 1, maxItems: 3 })),
    first_party: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ClientIdParams = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) });
export const RotatedSecret = Type.Object({ client_id: Type.String(), client_secret: Type.String() });
