import { DrizzleQueryError } from 'drizzle-orm/errors';
import pino, { type DestinationStream } from 'pino';
import type { Config } from './config.js';

/** The stack's frames without its first line, which repeats the message. */
function frames(error: Error): string {
  return (error.stack ?? '').split('\n').filter((line) => line.startsWith('    at ')).join('\n');
}

/**
 * What a failed query may say in a log: the statement and PostgreSQL's code and message, never the
 * values. Drizzle writes the parameters (password hashes, token digests) into its message, and
 * PostgreSQL's `detail` repeats a failing row whole ("Failing row contains (…)").
 */
function queryFailure(error: DrizzleQueryError) {
  const cause = error.cause as (Error & { code?: string; constraint?: string; table?: string; column?: string }) | undefined;
  return {
    type: 'DrizzleQueryError',
    message: `Failed query: ${error.query}`,
    stack: frames(error),
    ...(cause && {
      cause: { type: cause.name, message: cause.message, code: cause.code, constraint: cause.constraint, table: cause.table, column: cause.column },
    }),
  };
}

/** pino's error serializer, except for failed queries, whose parameters stay out of the log. */
export function serializeError(error: unknown) {
  if (error instanceof DrizzleQueryError) return queryFailure(error);
  return pino.stdSerializers.err(error as Error);
}

/**
 * Log configuration shared by every process of ours: JSON lines, secrets kept out at the source (the
 * Authorization header redacted, query parameters dropped from errors). By default lines go to stdout
 * without blocking the event loop: those logged while a write is under way go out together in the next
 * one, and pino flushes what is left when the process exits.
 */
export function loggerOptions(config: Pick<Config, 'logLevel'>, destination?: DestinationStream) {
  return {
    level: config.logLevel,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'], censor: '[redacted]' },
    serializers: { err: serializeError },
    stream: destination ?? pino.destination({ dest: 1, sync: false }),
  };
}

/** Structured logging, satisfied by pino (and so by Fastify's `app.log`). */
export interface Log {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}
