#!/usr/bin/env node
// The esign-worker CLI. In a checkout it runs src/main.ts directly (Node 24 strips the types,
// so a stale build can never shadow the source); installed as a package, where src/ is not
// shipped, it runs the compiled dist/main.js.
import { existsSync } from 'node:fs';

const source = new URL('../src/main.ts', import.meta.url);
const compiled = new URL('../dist/main.js', import.meta.url);
await import(existsSync(source) ? source.href : compiled.href);
