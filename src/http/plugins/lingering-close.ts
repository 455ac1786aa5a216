import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';

/** How much of an unread body is read and thrown away after the answer, and for how long at most. */
export const LINGER_MAX_BYTES = 16 * 1024 * 1024;
export const LINGER_MAX_MS = 5000;

/**
 * A client still sending a body the service has already answered (413 before reading it, 401 before
 * parsing it) must be able to read that answer. Node closes the connection as soon as a `Connection: close`
 * response is written, and the kernel answers the request bytes still arriving with a reset: a client
 * that writes its whole body before reading (Python's `requests`, most HTTP clients) sees EPIPE instead
 * of the 413. So, as nginx's lingering close does, the response goes out with a FIN, the rest of the body
 * is read and discarded, and the socket closes once the body is in — or at LINGER_MAX_BYTES or
 * LINGER_MAX_MS, so a huge or slow upload cannot hold the server.
 * @see nginx `lingering_close`; issue 12, point 8
 */
export function registerLingeringClose(app: FastifyInstance): void {
  // A callback hook, not an async one: it runs on every response, and almost always returns at once.
  app.addHook('onSend', (request, reply, payload, done) => {
    // `complete` is false only on a real connection whose body has not all arrived (injected requests
    // have no such flag, and no socket to linger on).
    if (request.raw.complete === false && hasBody(request.headers) && !reply.raw.headersSent) {
      reply.header('connection', 'close');
      lingerAfterResponse(request.raw);
    }
    done(null, payload);
  });
}

/** A request without a body is complete once its headers are in, even if the answer came first. */
const hasBody = (headers: IncomingHttpHeaders) =>
  (headers['content-length'] !== undefined && headers['content-length'] !== '0') || headers['transfer-encoding'] !== undefined;

function lingerAfterResponse(request: IncomingMessage): void {
  const socket = request.socket;
  let drained = 0;
  let answered = false;
  const close = () => socket.destroy();
  const deadline = setTimeout(close, LINGER_MAX_MS);
  deadline.unref();
  socket.once('close', () => clearTimeout(deadline));
  request.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > LINGER_MAX_BYTES) close();
  });
  request.once('end', () => {
    if (answered) close();
  });
  // Node calls destroySoon once the `Connection: close` response is written: send the FIN only, and close
  // when the body is in (nothing unread, so no reset) or at a bound.
  socket.destroySoon = () => {
    answered = true;
    socket.end();
    if (request.complete) close();
  };
}
