/** One hashing algorithm with its cost parameters. */
export interface PasswordScheme {
  /** Whether `hash` is in this scheme's format (any cost). */
  recognises(hash: string): boolean;
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  /** Whether a recognised `hash` was made with exactly this scheme's current parameters. */
  isCurrent(hash: string): boolean;
}
