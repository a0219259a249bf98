// Guard for `npm test`: the node@24 devDependency puts Node 24 first on npm's PATH.
// When its install script did not run, npm silently falls back to the system Node;
// fail here with a clear message instead of a confusing crash inside vitest.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `esign-worker needs Node.js >= 24, but npm is running Node ${process.versions.node}.\n` +
      'Run `npm ci` (the node@24 devDependency installs Node 24 into node_modules/.bin),\n' +
      'or install Node 24 yourself (see .nvmrc).',
  );
  process.exit(1);
}
