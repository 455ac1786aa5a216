/** PostgreSQL's SQLSTATE for a unique violation. Drivers and Drizzle wrap it differently; look through. */
export function isUniqueViolation(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error || (typeof e === 'object' && e !== null); e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === '23505') return true;
    if ((e as { cause?: unknown }).cause === undefined) break;
  }
  return false;
}
