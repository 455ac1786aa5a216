import { createHmac } from 'node:crypto';
import fc from 'fast-check';

/**
 * Generators for test/http/fuzz.test.ts: requests built from the app's own OpenAPI document, with hostile
 * bodies, headers and tokens. Values that only exist at run time (the fuzz account's password, a live
 * access token, a fresh refresh token) are generated as `Ref`s and resolved just before the request, so a
 * generated case stays valid however the account changed in between (and reproduces from its seed).
 */

export type RefName = 'username' | 'email' | 'password' | 'accessToken' | 'refreshToken' | 'sessionId';

export class Ref {
  constructor(readonly name: RefName) {}
  toString() {
    return `<${this.name}>`;
  }
}

/** A JSON-ish value; objects are entry lists so that duplicate and `__proto__` keys survive serialisation. */
export type Value = string | number | boolean | null | Ref | Value[] | { entries: [string, Value][] };

export type Body =
  | { kind: 'none' }
  | { kind: 'json'; entries: [string, Value][] }
  | { kind: 'form'; entries: [string, Value][] }
  | { kind: 'raw'; payload: string | Buffer; natural: string };

export type Auth =
  | { kind: 'none' }
  /** A live access token of the fuzz account, possibly damaged. */
  | { kind: 'valid'; damage: 'none' | 'flip' | 'truncate' | 'append' | 'case'; at: number }
  /** A token signed like the Python service's (only `sub` and `exp`), for the fuzz account. */
  | { kind: 'legacy' }
  /** A JWT built by hand: any header, any claims, signed with the right key, a wrong one, or not at all. */
  | { kind: 'forged'; header: [string, Value][]; claims: [string, Value][]; signature: 'right' | 'wrong' | 'empty' | 'junk'; fresh: boolean }
  | { kind: 'scheme'; scheme: string; credential: string }
  | { kind: 'basic'; decoded: string }
  | { kind: 'introspection'; as: 'basic' | 'bearer' };

export interface FuzzRequest {
  method: string;
  /** The operation's path with its parameters filled in. */
  path: string;
  query: string;
  body: Body;
  /** `undefined`: no Content-Type header; 'natural': the one matching the body kind. */
  contentType: string | undefined;
  auth: Auth;
  headers: [string, string][];
}

/** Characters an HTTP/1.1 header value can carry: Node's parser answers 400 to the others before any app code. */
const headerChar = fc
  .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constant(0x09))
  .map((code) => String.fromCharCode(code));
export const headerText = (maxLength = 60) => fc.string({ unit: headerChar, maxLength });

/** Strings that broke parsers, databases or normalisers somewhere before. */
const NASTY = [
  '',
  ' ',
  '\u0000',
  'abc\u0000def',
  '\u0007\u001b[31m',
  '\r\nSet-Cookie: x=1',
  '\ud800',
  'x\udfffy',
  '\ud83d\ude00',
  'e\u0301',
  '\u00e9',
  '\ufdfa',
  '\ufeff',
  '\u202eevil',
  '\u0085',
  '１２３４５６７８',
  'ＡＤＭＩＮ',
  '\u{1d552}\u{1d553}',
  'null',
  'undefined',
  'true',
  '[object Object]',
  '__proto__',
  'constructor',
  "' OR '1'='1' --",
  '"; drop table users; --',
  '${jndi:ldap://x}',
  '{{7*7}}',
  '../../etc/passwd',
  '%00',
  '%s%s%s%n',
  '<script>alert(1)</script>',
  'password123',
  'qwertyuiop',
  'a@b.co',
  'user@example.com',
  'refresh_token',
  '00000000-0000-0000-0000-000000000000',
  'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
  '-1',
  '1e309',
  '9007199254740993',
];

const hugeString = fc
  .tuple(fc.constantFrom('a', 'é', '\u{1f600}', '\ufdfa', '\u0000', ' '), fc.constantFrom(73, 257, 1025, 4097, 30000))
  .map(([char, times]) => char.repeat(times));

const refs = (names: RefName[]) => fc.constantFrom(...names).map((name) => new Ref(name));

export const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 3, maxLength: 40 }) },
  { weight: 4, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 1, arbitrary: hugeString },
);

const leaf: fc.Arbitrary<Value> = fc.oneof(
  { weight: 10, arbitrary: text },
  { weight: 4, arbitrary: refs(['username', 'email', 'password', 'refreshToken', 'accessToken']) },
  { weight: 2, arbitrary: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -1, 2 ** 31, 2 ** 53 + 1)) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
);

const objectKey = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '') },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
);

export const value: fc.Arbitrary<Value> = fc.oneof(
  { weight: 12, arbitrary: leaf },
  { weight: 1, arbitrary: fc.array(leaf, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.array(fc.tuple(objectKey, leaf), { maxLength: 3 }).map((entries) => ({ entries })) },
);

/** The documented fields (each possibly missing or twice) plus, sometimes, keys that poison prototypes. */
function entriesFor(fields: string[]): fc.Arbitrary<[string, Value][]> {
  const documented = fields.length === 0 ? fc.constant([]) : fc.subarray(fields);
  return fc
    .tuple(
      documented.chain((names) => fc.tuple(...names.map((name) => value.map((v): [string, Value] => [name, v])))),
      fc.array(fc.tuple(fc.constantFrom(...(fields.length > 0 ? fields : ['x'])), value), { maxLength: 1 }),
      fc.array(fc.tuple(objectKey, value), { maxLength: 2 }),
    )
    .chain(([main, duplicates, extra]) => fc.shuffledSubarray([...main, ...duplicates, ...extra], { minLength: main.length }));
}

const rawPayload = fc.oneof(
  fc.constantFrom(
    '{',
    '{"a":',
    '{"a":1,}',
    "{'a':1}",
    '[]',
    'null',
    'true',
    '0',
    '"x"',
    '\ufeff{}',
    '{"__proto__":{"isAdmin":true}}',
    '{"constructor":{"prototype":{"isAdmin":true}}}',
    '{"a":"\\ud800"}',
    '{"a":"\\u0000"}',
    '{"a":1e999999}',
    '%',
    '%zz',
    'a=%E0%A4%A',
    'username=%00&password=%00',
    '&&&',
    '===',
    'a[b]=c',
    '__proto__[isAdmin]=1',
    'constructor[prototype][isAdmin]=1',
  ),
  fc.constantFrom(10, 5000, 20000).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
  fc.constantFrom(10, 5000, 12000).map((depth) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)),
  fc.constantFrom(60000, 70000).map((size) => 'x'.repeat(size)),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
);

const newPassword = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', minLength: 8, maxLength: 72 }),
  fc.string({ unit: 'grapheme', minLength: 8, maxLength: 20 }),
  fc.constantFrom('password123', 'PassWord123', 'qwertyuiop', 'correct-horse-battery', 'ｃｏｒｒｅｃｔ-ｈｏｒｓｅ'),
);

/** A value the route could accept for `field`, so that cases get past validation into the services. */
function plausible(field: string): fc.Arbitrary<Value> {
  switch (field) {
    case 'username':
      return fc.oneof(refs(['username', 'email']), fc.stringMatching(/^[A-Za-z0-9_.-]{3,32}$/));
    case 'email':
      return fc.oneof(refs(['email']), fc.emailAddress());
    case 'password':
    case 'current_password':
      return fc.oneof(refs(['password']), newPassword);
    case 'new_password':
      return fc.oneof(newPassword, refs(['username', 'email', 'password']));
    case 'refresh_token':
    case 'token':
      return refs(['refreshToken', 'accessToken']);
    case 'grant_type':
      return fc.constantFrom('password', 'refresh_token', 'client_credentials', 'authorization_code', '');
    case 'token_type_hint':
      return fc.constantFrom('access_token', 'refresh_token', 'id_token');
    default:
      return text;
  }
}

/** Every documented field with a plausible value, then perhaps one of them swapped for a hostile one. */
function plausibleEntries(fields: string[]): fc.Arbitrary<[string, Value][]> {
  return fc
    .tuple(fc.tuple(...fields.map((f) => plausible(f).map((v): [string, Value] => [f, v]))), fc.option(fc.tuple(fc.nat(), value)))
    .map(([entries, swap]) => {
      if (swap === null || entries.length === 0) return entries;
      const at = swap[0] % entries.length;
      return entries.map((entry, i): [string, Value] => (i === at ? [entry[0], swap[1]] : entry));
    });
}

function bodyFor(fields: string[]): fc.Arbitrary<Body> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<Body>({ kind: 'none' }) },
    { weight: 3, arbitrary: plausibleEntries(fields).map((entries): Body => ({ kind: 'json', entries })) },
    { weight: 3, arbitrary: plausibleEntries(fields).map((entries): Body => ({ kind: 'form', entries })) },
    { weight: 2, arbitrary: entriesFor(fields).map((entries): Body => ({ kind: 'json', entries })) },
    { weight: 2, arbitrary: entriesFor(fields).map((entries): Body => ({ kind: 'form', entries })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(rawPayload, fc.constantFrom('application/json', 'application/x-www-form-urlencoded'))
        .map(([payload, natural]): Body => ({ kind: 'raw', payload, natural })),
    },
  );
}

const contentType = fc.oneof(
  { weight: 12, arbitrary: fc.constant('natural') },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'Application/JSON',
      'application/x-www-form-urlencoded',
      'application/x-www-form-urlencoded; charset=UTF-8',
      'text/plain',
      'text/html',
      'multipart/form-data; boundary=xyz',
      'application/xml',
      'application/json; charset=utf-16le',
      'application/vnd.api+json',
      'application/jsonx',
      'application/json, text/plain',
      'application/json;',
      '*/*',
      ';',
    ),
  },
  { weight: 1, arbitrary: headerText(40) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

const claimValue: fc.Arbitrary<Value> = fc.oneof(
  leaf,
  refs(['username', 'sessionId']),
  fc.constantFrom(1, 0, -1, 2 ** 31, 2 ** 53 - 1, 1.5, '1', 'access', 'refresh', 'x\u0000y'),
);

const claims = fc.array(
  fc.tuple(fc.constantFrom('sub', 'uid', 'sid', 'exp', 'iat', 'nbf', 'jti', 'type', 'token_type', 'iss', 'aud', '__proto__'), claimValue),
  { maxLength: 6 },
);

const jwtHeader = fc.array(
  fc.tuple(
    fc.constantFrom('alg', 'typ', 'kid', 'crit', 'b64', 'jku', 'x5u', 'jwk', 'zip'),
    fc.oneof(leaf, fc.constantFrom<Value>('HS256', 'none', 'None', 'RS256', 'ES256', 'EdDSA', 'HS512', 'JWT', 'at+jwt', 'refresh+jwt', ['b64'])),
  ),
  { maxLength: 4 },
);

const auth: fc.Arbitrary<Auth> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Auth>({ kind: 'none' }) },
  {
    weight: 6,
    arbitrary: fc
      .record({ damage: fc.constantFrom('none', 'none', 'flip', 'truncate', 'append', 'case'), at: fc.nat() })
      .map((r): Auth => ({ kind: 'valid', damage: r.damage as 'none', at: r.at })),
  },
  { weight: 1, arbitrary: fc.constant<Auth>({ kind: 'legacy' }) },
  {
    weight: 4,
    arbitrary: fc
      .record({ header: jwtHeader, claims, signature: fc.constantFrom('right', 'right', 'wrong', 'empty', 'junk'), fresh: fc.boolean() })
      .map((r): Auth => ({ kind: 'forged', ...r, signature: r.signature as 'right' })),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({ scheme: fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Bearer ', 'Basic', 'Digest', 'Token', 'JWT', ''), credential: headerText(300) })
      .map((r): Auth => ({ kind: 'scheme', ...r })),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((decoded): Auth => ({ kind: 'basic', decoded })) },
  { weight: 1, arbitrary: fc.constantFrom('basic', 'bearer').map((as): Auth => ({ kind: 'introspection', as: as as 'basic' })) },
);

/** Lone surrogates cannot be percent-encoded: a URL or a form never carries them. */
export const wellFormed = (t: string) => t.replace(/\p{Cs}/gu, '\ufffd');

/** Path parameter values: well-formed ids, near misses PostgreSQL or a UUID regex might read differently, junk. */
const pathParam = fc.oneof(
  fc.uuid(),
  refs(['sessionId']).map(String),
  fc.uuid().map((id) => id.toUpperCase()),
  fc.uuid().map((id) => `urn:uuid:${id}`),
  fc.uuid().map((id) => `%7B${id}%7D`),
  fc.uuid().map((id) => id.replaceAll('-', '')),
  fc.constantFrom('%', '%zz', '%00', '%E0%A4%A', '..', '%2F..%2F', '.', ';a=b', 'a'.repeat(5000), '-1', '0'),
  text.map((t) => encodeURIComponent(wellFormed(t))),
);

const query = fc.oneof(
  { weight: 6, arbitrary: fc.constant('') },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.constantFrom('?__proto__[x]=1', '?constructor[prototype][x]=1', '?a=1&a=2', '?%zz', '?token=x', '?access_token=x', '?', '?&&=='),
      text.map((t) => `?q=${encodeURIComponent(wellFormed(t))}`),
    ),
  },
);

const extraHeaders = fc.array(
  fc.tuple(
    fc.constantFrom('user-agent', 'x-request-id', 'x-forwarded-for', 'x-real-ip', 'accept', 'accept-encoding', 'cookie', 'origin', 'content-encoding', 'x-http-method-override'),
    headerText(200),
  ),
  { maxLength: 3 },
);

const OTHER_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'];

/** Requests for one documented operation: mostly its own method, sometimes another one. */
export function requestFor(method: string, pathTemplate: string, fields: string[]): fc.Arbitrary<FuzzRequest> {
  const params = pathTemplate.match(/\{[^}]+\}/g) ?? [];
  const path = fc
    .tuple(...params.map(() => pathParam))
    .map((values) => values.reduce((p, v, i) => p.replace(params[i]!, v), pathTemplate));
  return fc.record({
    method: fc.oneof({ weight: 9, arbitrary: fc.constant(method) }, { weight: 1, arbitrary: fc.constantFrom(...OTHER_METHODS) }),
    path,
    query,
    body: bodyFor(fields),
    contentType,
    auth,
    headers: extraHeaders,
  });
}

/** JSON text of a value, keeping duplicate and `__proto__` keys (JSON.stringify of an object would not). */
export function toJson(v: Value, resolve: (ref: Ref) => string): string {
  if (v instanceof Ref) return JSON.stringify(resolve(v));
  if (Array.isArray(v)) return `[${v.map((item) => toJson(item, resolve)).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${v.entries.map(([k, item]) => `${JSON.stringify(k)}:${toJson(item, resolve)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** A form field's text: strings as they are, anything else as JSON (what a careless client would send). */
export function toFormValue(v: Value, resolve: (ref: Ref) => string): string {
  if (v instanceof Ref) return resolve(v);
  return typeof v === 'string' ? v : toJson(v, resolve);
}

/** An `application/x-www-form-urlencoded` body; duplicate keys stay duplicates. */
export function toForm(entries: [string, Value][], resolve: (ref: Ref) => string): string {
  return entries.map(([k, v]) => `${encodeURIComponent(wellFormed(k))}=${encodeURIComponent(wellFormed(toFormValue(v, resolve)))}`).join('&');
}

const base64url = (text: string | Buffer) => Buffer.from(text).toString('base64url');

/** A compact JWS over arbitrary header and claims; `key` undefined leaves the signature as given. */
export function handMadeJwt(header: string, payload: string, key: string | undefined, signature = ''): string {
  const input = `${base64url(header)}.${base64url(payload)}`;
  return `${input}.${key === undefined ? signature : createHmac('sha256', key).update(input).digest('base64url')}`;
}

/** The Refs inside a request, so they can be resolved (some asynchronously) before it is sent. */
export function refsIn(request: FuzzRequest): Set<RefName> {
  const found = new Set<RefName>();
  const visit = (v: Value): void => {
    if (v instanceof Ref) found.add(v.name);
    else if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === 'object') v.entries.forEach(([, item]) => visit(item));
  };
  if (request.body.kind === 'json' || request.body.kind === 'form') request.body.entries.forEach(([, v]) => visit(v));
  if (request.auth.kind === 'forged') [...request.auth.header, ...request.auth.claims].forEach(([, v]) => visit(v));
  if (request.path.includes('<sessionId>')) found.add('sessionId');
  if (request.auth.kind === 'valid' || request.auth.kind === 'legacy') found.add('accessToken');
  return found;
}
