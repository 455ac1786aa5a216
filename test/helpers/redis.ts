import { connect } from 'node:net';

export const TEST_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * Why Redis tests cannot run here, or false when they can. CI must have Redis (its absence is a failure
 * there, not a reason to skip); elsewhere a machine without it skips them and says so.
 */
export async function redisSkipReason(): Promise<string | false> {
  if (process.env['CI'] === 'true') return false;
  const reachable = await new Promise<boolean>((resolve) => {
    const socket = connect(6379, '127.0.0.1');
    const answer = (yes: boolean) => {
      socket.destroy();
      resolve(yes);
    };
    socket.setTimeout(2000);
    socket.once('connect', () => answer(true)).once('error', () => answer(false)).once('timeout', () => answer(false));
  });
  return reachable ? false : `Redis is not reachable at ${TEST_REDIS_URL}`;
}
