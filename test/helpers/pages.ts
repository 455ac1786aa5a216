import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

/**
 * A browser, as far as app.inject can play one: it keeps cookies, reads the CSRF token of the last page
 * and sends it with each form, from the service's own origin.
 */
export class PageClient {
  readonly cookies = new Map<string, string>();
  csrf = '';
  last: LightMyRequestResponse | undefined;
  constructor(readonly app: FastifyInstance, readonly origin = 'http://127.0.0.1:8000') {}

  private remember(res: LightMyRequestResponse): LightMyRequestResponse {
    for (const c of res.cookies) {
      if (c.value === '' || (c.maxAge !== undefined && c.maxAge <= 0) || (c.expires && c.expires.getTime() < Date.now())) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    const token = /<meta name="csrf-token" content="([^"]+)">/.exec(res.body)?.[1];
    if (token) this.csrf = token;
    this.last = res;
    return res;
  }

  get cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async get(url: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    return this.remember(await this.app.inject({ method: 'GET', url, headers: { cookie: this.cookieHeader, ...headers } }));
  }

  /** Posts a form as the page would (the CSRF field included unless given), from our origin. */
  async post(url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    const payload = new URLSearchParams({ _csrf: this.csrf, ...fields }).toString();
    return this.remember(
      await this.app.inject({
        method: 'POST',
        url,
        payload,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: this.cookieHeader, origin: this.origin, 'sec-fetch-site': 'same-origin', ...headers },
      }),
    );
  }

  /** Signs in through the page; asserts it worked. */
  async signIn(username: string, password: string): Promise<void> {
    await this.get('/account/login');
    const res = await this.post('/account/login', { username, password });
    assert.equal(res.statusCode, 303, res.body);
  }
}

/** The text of the page without tags, for matching. */
export const textOf = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
