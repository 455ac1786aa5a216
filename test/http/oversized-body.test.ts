import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { useTestApp } from '../helpers/app.js';

/** Posts `size` bytes (declared up front) and says what the client saw: the status, or the socket error. */
function postLarge(port: number, path: string, size: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': size },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let sent = 0;
    const write = () => {
      while (sent < size) {
        const part = chunk.subarray(0, Math.min(chunk.length, size - sent));
        sent += part.length;
        if (!req.write(part)) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
}

/** The same as a plain client that writes its whole request before it reads: what it got back, or its error. */
function postLargeRaw(port: number, path: string, size: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let failed: string | undefined;
    socket.on('data', (data) => (received += data.toString('latin1')));
    socket.on('error', (error: NodeJS.ErrnoException) => (failed = error.code ?? error.message));
    socket.on('close', () => resolve(/^HTTP\/1\.1 (\d+)/.exec(received)?.[1] ?? failed ?? 'no answer'));
    // Like a blocking client (Python's `requests`, curl without Expect), it reads only once it has written
    // everything, and a little later: by then a server that closed on unread data has reset the connection.
    socket.pause();
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${size}\r\n\r\n`);
    socket.end(Buffer.alloc(size, 'a'), () => setTimeout(() => socket.resume(), 50));
  });
}

describe('oversized bodies (issue 12, point 8)', () => {
  // 2 MB broke the connection on a machine with smaller socket buffers; 8 MB does here (loopback buffers grow to several MB).
  test('a client posting 2 MB or 8 MB reliably reads the 413 instead of a broken connection (10 of 10, real sockets)', async (t) => {
    const ctx = await useTestApp(t, 'pglite');
    await ctx.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = ctx.app.server.address() as { port: number };
    const seen = [];
    for (let i = 0; i < 10; i++) seen.push(await postLarge(port, '/user/register', 2 * 1024 * 1024));
    assert.deepEqual(seen, Array(10).fill(413));
    for (const megabytes of [2, 8]) {
      const raw = [];
      for (let i = 0; i < 10; i++) raw.push(await postLargeRaw(port, '/user/register', megabytes * 1024 * 1024));
      assert.deepEqual(raw, Array(10).fill('413'), `${megabytes} MB`);
    }
  });

  test('a huge or stalled upload does not hold the connection: it is read up to a bound, then closed', async (t) => {
    const ctx = await useTestApp(t, 'pglite');
    await ctx.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = ctx.app.server.address() as { port: number };
    const head = `POST /user/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${1024 ** 3}\r\n\r\n`;

    // Endless: keeps writing until the server cuts it off.
    const written = await new Promise<number>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      const chunk = Buffer.alloc(256 * 1024, 'a');
      let total = 0;
      const pump = () => {
        while (!socket.destroyed && socket.write(chunk)) total += chunk.length;
        total += chunk.length;
      };
      socket.on('drain', pump);
      socket.on('error', () => {});
      socket.on('close', () => resolve(total));
      socket.write(head, pump);
    });
    assert.ok(written < 256 * 1024 * 1024, `cut off after ${written} bytes, not after the announced gigabyte`);

    // Stalled: announces a gigabyte, sends nothing more, and still gets its 413 and a closed connection.
    const stalled = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(head));
      let received = '';
      socket.on('data', (data) => (received += data.toString('latin1')));
      socket.on('error', () => {});
      socket.on('close', () => resolve(received));
    });
    assert.match(stalled, /^HTTP\/1\.1 413/);
  });
});
