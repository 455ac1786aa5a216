/** The part of autocannon's programmatic API the load generator uses (the package ships no types). */
declare module 'autocannon' {
  namespace autocannon {
    interface Options {
      url: string;
      connections?: number;
      duration?: number;
      timeout?: number;
      requests?: Record<string, unknown>[];
      setupClient?: (client: { setRequests(requests: Record<string, unknown>[]): void }) => void;
    }
    interface Instance {
      on(event: 'response', listener: (client: unknown, statusCode: number, bytes: number, responseTime: number) => void): void;
      on(event: 'reqError' | 'timeout' | 'done', listener: (...args: unknown[]) => void): void;
      stop(): void;
    }
  }
  function autocannon(options: autocannon.Options): autocannon.Instance;
  export default autocannon;
}
