import assert from 'node:assert/strict';

/**
 * A browser over real HTTP, for flows that cross to another party (an OAuth client's redirect URI): it
 * keeps cookies per host (by name; a test's few cookies have distinct names on one host), follows redirects by hand so a test
 * can stop at a given URL, and posts forms with the page's CSRF token and our origin, as a browser does.
 */
export class HttpBrowser {
  readonly jars = new Map<string, Map<string, string>>();
  csrf = '';
  constructor(readonly origin: string) {}

  /** The cookies of one host (the origin's unless named). */
  cookies(host = new URL(this.origin).host): Map<string, string> {
    if (!this.jars.has(host)) this.jars.set(host, new Map());
    return this.jars.get(host)!;
  }

  private remember(res: Response, host: string): void {
    const cookies = this.cookies(host);
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const [name, ...value] = pair!.split('=');
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value.join('=') === '') cookies.delete(name!.trim());
      else cookies.set(name!.trim(), value.join('='));
    }
  }

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<{ res: Response; body: string; url: string }> {
    const target = new URL(url, this.origin).href;
    const { host, origin } = new URL(target);
    const res = await fetch(target, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      redirect: 'manual',
      headers: {
        cookie: [...this.cookies(host)].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(init.form && { 'content-type': 'application/x-www-form-urlencoded', origin, 'sec-fetch-site': 'same-origin' }),
      },
      body: init.form && new URLSearchParams({ _csrf: this.csrf, ...init.form }),
    });
    this.remember(res, host);
    const body = await res.text();
    const token = /<meta name="csrf-token" content="([^"]+)">/.exec(body)?.[1];
    if (token) this.csrf = token;
    return { res, body, url: target };
  }

  /** Follows redirects (and refreshing pages) from `url` until a page answers, or until a URL starting with `stopAt` (returned unvisited). */
  async follow(url: string, stopAt?: string, init: { form?: Record<string, string> } = {}): Promise<{ res?: Response; body: string; url: string }> {
    let step = await this.request(url, init);
    for (let hops = 0; hops < 20; hops++) {
      // A page that moves on by itself (`<meta http-equiv="refresh">`) is followed as a browser does.
      const refresh = /<meta http-equiv="refresh" content="0;url=([^"]+)">/.exec(step.body)?.[1]?.replace(/&amp;/g, '&');
      const location = step.res.headers.get('location') ?? refresh ?? null;
      if (location === null) return step;
      const next = new URL(location, step.url).href;
      if (stopAt !== undefined && next.startsWith(stopAt)) return { body: '', url: next };
      step = await this.request(next);
    }
    assert.fail(`more than 20 redirects from ${url}`);
  }
}
