import type { FastifyInstance } from 'fastify';

let counter = 0;

/** A username no other test in this run uses. */
export function uniqueName(prefix = 'user'): string {
  counter += 1;
  return `${prefix}_${process.pid}_${counter}`;
}

export function form(fields: Record<string, string>): { payload: string; headers: Record<string, string> } {
  return {
    payload: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  };
}

export async function register(app: FastifyInstance, username = uniqueName(), password = 'correct-horse-1') {
  const email = `${username}@example.com`;
  const res = await app.inject({ method: 'POST', url: '/user/register', ...form({ username, email, password }) });
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`);
  return { ...(res.json() as { id: number; username: string; email: string }), password };
}

export async function login(app: FastifyInstance, username: string, password: string) {
  const res = await app.inject({ method: 'POST', url: '/user/token', ...form({ username, password }) });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  return res.json() as { access_token: string; refresh_token: string; expires_in: number; token_type: string; weak_password?: unknown };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
