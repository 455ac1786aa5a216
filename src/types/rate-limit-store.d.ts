// @fastify/rate-limit ships its Redis store without type declarations for the deep import.
declare module '@fastify/rate-limit/store/RedisStore.js' {
  import type { FastifyRateLimitStore } from '@fastify/rate-limit';
  const RedisStore: new (continueExceeding: boolean, exponentialBackoff: boolean, redis: unknown, prefix?: string) => FastifyRateLimitStore;
  export default RedisStore;
}
