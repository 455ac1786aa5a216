#!/usr/bin/env node
// Entry point of the `user-services` command. TypeScript is loaded through tsx's loader, so no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
