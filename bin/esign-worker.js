#!/usr/bin/env node
// The esign-worker CLI. Installed as a package it runs the compiled dist/main.js; in a
// checkout without a build it runs src/main.ts directly (Node 24 strips the types).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/main.js', import.meta.url);
await import(
  existsSync(compiled) ? compiled.href : new URL('../src/main.ts', import.meta.url).href
);
