import * as client from 'openid-client';
import type { Clock } from '../../clock.js';
import { isLoopbackHost, type OidcProviderConfig } from '../../config-federation.js';

/** A provider ready for a sign-in: its settings and what discovery found. */
export interface DiscoveredProvider {
  readonly settings: OidcProviderConfig;
  readonly configuration: client.Configuration;
}

/** Why a provider cannot be used now: not configured at all, or configured and not (yet) discovered. */
export type ProviderLookup = { status: 'ready'; provider: DiscoveredProvider } | { status: 'unknown' } | { status: 'unavailable'; retryAfterSeconds: number };

export interface ProviderRegistry {
  /** The configured providers, discovered or not, for the sign-in buttons. */
  readonly configured: readonly OidcProviderConfig[];
  /** Discovers every provider once; failures are logged and left for later. Never throws. */
  start(): Promise<void>;
  lookup(name: string): Promise<ProviderLookup>;
  /** Origins a browser is sent to for a sign-in: the issuers' and their discovered authorization endpoints'. */
  origins(): string[];
}

interface Log {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/** How long a request to a provider's discovery document may take. */
const DISCOVERY_TIMEOUT_SECONDS = 5;
const FIRST_RETRY_SECONDS = 5;
const MAX_RETRY_SECONDS = 300;

/**
 * The providers of OIDC_PROVIDERS, discovered from their issuer's `/.well-known/openid-configuration`.
 * A provider that cannot be discovered (down, misconfigured) is logged and left out: the service starts
 * without it. It is tried again on the next sign-in that names it, no sooner than its backoff allows
 * (5 s, doubling up to 5 min), so a dead provider costs each request nothing but a 503.
 * @see OpenID Connect Discovery 1.0 §4; issue 17
 */
export function createProviderRegistry(configured: readonly OidcProviderConfig[], deps: { clock: Clock; log: Log }): ProviderRegistry {
  const ready = new Map<string, DiscoveredProvider>();
  const failures = new Map<string, { count: number; retryAt: number }>();
  const inFlight = new Map<string, Promise<DiscoveredProvider | undefined>>();

  async function discover(settings: OidcProviderConfig): Promise<DiscoveredProvider | undefined> {
    const issuer = new URL(settings.issuer);
    // Plain http is allowed for loopback issuers only (config.ts refuses any other): local trials and tests.
    const insecure = issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname);
    try {
      const configuration = await client.discovery(
        issuer,
        settings.clientId,
        // The ID token's algorithm is pinned: RS256 unless the provider says otherwise at discovery, never `none`.
        { id_token_signed_response_alg: 'RS256' },
        client.ClientSecretPost(settings.clientSecret),
        { timeout: DISCOVERY_TIMEOUT_SECONDS, ...(insecure && { execute: [client.allowInsecureRequests] }) },
      );
      // The ID token's signature is checked against the provider's JWKS even though it comes straight from
      // the token endpoint: OIDC Core §3.1.3.7 lets TLS stand in for it, but a loopback issuer has no TLS,
      // and a signature check costs little.
      client.enableNonRepudiationChecks(configuration);
      const provider = { settings, configuration };
      ready.set(settings.name, provider);
      failures.delete(settings.name);
      deps.log.info({ provider: settings.name, issuer: settings.issuer }, 'OpenID provider discovered');
      return provider;
    } catch (error) {
      const count = (failures.get(settings.name)?.count ?? 0) + 1;
      const delay = Math.min(FIRST_RETRY_SECONDS * 2 ** (count - 1), MAX_RETRY_SECONDS);
      failures.set(settings.name, { count, retryAt: deps.clock.now().getTime() + delay * 1000 });
      deps.log.warn(
        { provider: settings.name, issuer: settings.issuer, err: { message: (error as Error).message }, retryInSeconds: delay },
        'OpenID provider could not be discovered; its sign-in is unavailable until it can be',
      );
      return undefined;
    }
  }

  /** One discovery at a time per provider: a burst of sign-ins while it is down makes one request. */
  function discoverOnce(settings: OidcProviderConfig): Promise<DiscoveredProvider | undefined> {
    let pending = inFlight.get(settings.name);
    if (pending === undefined) {
      pending = discover(settings).finally(() => inFlight.delete(settings.name));
      inFlight.set(settings.name, pending);
    }
    return pending;
  }

  const retryAfter = (name: string) => Math.max(1, Math.ceil(((failures.get(name)?.retryAt ?? 0) - deps.clock.now().getTime()) / 1000));

  return {
    configured,
    origins() {
      const found = [...ready.values()].map((p) => p.configuration.serverMetadata().authorization_endpoint).filter((u): u is string => u !== undefined);
      return [...new Set([...configured.map((p) => p.issuer), ...found].map((u) => new URL(u).origin))];
    },
    async start() {
      await Promise.all(configured.map((settings) => discoverOnce(settings)));
    },
    async lookup(name) {
      const settings = configured.find((p) => p.name === name);
      if (settings === undefined) return { status: 'unknown' };
      const known = ready.get(name);
      if (known) return { status: 'ready', provider: known };
      const failure = failures.get(name);
      if (failure !== undefined && deps.clock.now().getTime() < failure.retryAt) return { status: 'unavailable', retryAfterSeconds: retryAfter(name) };
      const provider = await discoverOnce(settings);
      return provider ? { status: 'ready', provider } : { status: 'unavailable', retryAfterSeconds: retryAfter(name) };
    },
  };
}
