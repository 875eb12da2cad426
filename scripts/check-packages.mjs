#!/usr/bin/env node
// Checks every publishable package as a user gets it: the tarball `pnpm pack` makes (workspace: ranges rewritten
// as on publish), never the source folder. Every package under packages/ that is not private is checked, so a new
// one is covered without editing this file. Needs a build first (`pnpm check:packages` does it).
//
//  1. the tarball: LICENSE (the root one), repository/homepage/bugs, no range a registry cannot resolve, no private
//     package named, a version that is a placeholder (0.0.0), a prerelease or one `changeset version` wrote;
//  2. its .d.ts files import nothing but Node's modules, the package itself and dependencies/peers whose types
//     reach users (shipped, or their @types a dependency too): a consumer without skipLibCheck checks them all;
//  3. publint and attw (every entry point under node10, node16 CJS/ESM and bundler) on the tarball;
//  4. a consumer project installs every tarball (strict layout) and imports every entry point: `tsc` without
//     skipLibCheck under nodenext, node16, bundler and commonjs+node10, on each TypeScript below; then `node`
//     requires and imports each entry point.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const rootManifest = readJson(join(root, 'package.json'));
// TypeScript versions a consumer may have: the oldest we support, ours, and the native port (which dropped node10).
const TYPESCRIPTS = [
  { version: '5.9.3', node10: true },
  { version: rootManifest.devDependencies.typescript, node10: true },
  { version: '7.0.2', node10: false },
];
const keep = process.argv.includes('--keep');
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const problems = [];
const fail = (pkg, text) => problems.push(`${pkg}: ${text}`);

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function run(command, args, options = {}) {
  return new Promise((resolve) => {
    execFile(command, args, { maxBuffer: 64 << 20, ...options }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: `${stdout}${stderr}`.trim() });
    });
  });
}

// The pnpm that runs us (`pnpm check:packages`), else the version the root package.json pins.
function pnpm(args, options) {
  const execPath = process.env.npm_execpath;
  if (execPath && /pnpm/.test(execPath)) return run(process.execPath, [execPath, ...args], options);
  return run('npx', ['-y', rootManifest.packageManager, ...args], options);
}

async function inParallel(items, limit, fn) {
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function filesUnder(dir) {
  return readdirSync(dir, { recursive: true }).map(String).filter((file) => statSync(join(dir, file)).isFile());
}

function packageNameOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const workspace = readdirSync(join(root, 'packages'))
  .filter((dir) => existsSync(join(root, 'packages', dir, 'package.json')))
  .map((dir) => ({ dir: `packages/${dir}`, manifest: readJson(join(root, 'packages', dir, 'package.json')) }));
const privateNames = new Set(workspace.filter((p) => p.manifest.private).map((p) => p.manifest.name));
const publishable = workspace.filter((p) => !p.manifest.private);
const rootLicense = existsSync(join(root, 'LICENSE')) ? readFileSync(join(root, 'LICENSE'), 'utf8') : null;
const repository = rootManifest.repository;

const started = Date.now();
const work = mkdtempSync(join(tmpdir(), 'mp-check-packages-'));
try {
  console.log(`packing ${publishable.map((p) => p.manifest.name).join(', ')}`);
  const tarballs = join(work, 'tarballs');
  const filters = publishable.flatMap((p) => ['--filter', p.manifest.name]);
  const packed = await pnpm(['-r', ...filters, 'pack', '--pack-destination', tarballs, '--json'], { cwd: root });
  if (packed.code !== 0) throw new Error(`pnpm pack failed:\n${packed.output}`);
  const results = JSON.parse(packed.output.slice(packed.output.indexOf('[')));
  for (const pkg of publishable) {
    pkg.tarball = results.find((r) => r.name === pkg.manifest.name)?.filename;
    if (!pkg.tarball) throw new Error(`pnpm pack made no tarball for ${pkg.manifest.name}:\n${packed.output}`);
    const out = join(work, 'unpacked', pkg.manifest.name);
    mkdirSync(out, { recursive: true });
    const untar = await run('tar', ['-xzf', pkg.tarball, '-C', out]);
    if (untar.code !== 0) throw new Error(`cannot unpack ${pkg.tarball}: ${untar.output}`);
    pkg.unpacked = join(out, 'package');
    pkg.packed = readJson(join(pkg.unpacked, 'package.json'));
    pkg.files = filesUnder(pkg.unpacked);
  }
  console.log(`packed (${elapsed()})`);
  for (const pkg of publishable) checkTarball(pkg);
  for (const pkg of publishable) checkDeclarationImports(pkg);
  // The install mostly waits on disk and network: overlap it with the linters, which mostly compute.
  await Promise.all([lintAll(), consumer()]);
} catch (error) {
  problems.push(error.message);
} finally {
  if (keep) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}

if (problems.length > 0) {
  console.error(`\n${problems.length} problem(s) in the packed packages:\n${problems.map((p) => `- ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(`\n${publishable.length} packages ready to publish (${elapsed()})`);

function checkTarball({ dir, manifest, packed, files, unpacked }) {
  const name = manifest.name;
  // pnpm pack and pnpm publish copy the workspace root's LICENSE into a package that has none.
  if (rootLicense === null) fail(name, 'no LICENSE at the workspace root, which pnpm copies into every tarball');
  else if (!files.includes('LICENSE')) fail(name, `no LICENSE in the tarball (the root one, or one in ${dir}/)`);
  else if (readFileSync(join(unpacked, 'LICENSE'), 'utf8') !== rootLicense) fail(name, `${dir}/LICENSE differs from the root LICENSE`);
  if (packed.license !== 'MIT') fail(name, `"license" is ${JSON.stringify(packed.license)}, expected "MIT" (the LICENSE file)`);

  const wanted = { type: 'git', url: repository.url, directory: dir };
  if (JSON.stringify(packed.repository) !== JSON.stringify(wanted)) {
    fail(name, `"repository" is ${JSON.stringify(packed.repository)}, expected ${JSON.stringify(wanted)}`);
  }
  const homepage = `${rootManifest.homepage.replace(/#.*$/, '')}/tree/main/${dir}#readme`;
  if (packed.homepage !== homepage) fail(name, `"homepage" is ${JSON.stringify(packed.homepage)}, expected ${JSON.stringify(homepage)}`);
  if (JSON.stringify(packed.bugs) !== JSON.stringify(rootManifest.bugs)) {
    fail(name, `"bugs" is ${JSON.stringify(packed.bugs)}, expected ${JSON.stringify(rootManifest.bugs)} (as the root package.json)`);
  }

  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'devDependencies']) {
    for (const [dep, range] of Object.entries(packed[field] ?? {})) {
      if (privateNames.has(dep)) fail(name, `${field} names the private package ${dep}, which is not on the registry`);
      if (/^(workspace|catalog|file|link|portal):/.test(range)) fail(name, `${field}.${dep} is "${range}", which a registry cannot resolve`);
    }
  }

  // A release number that `changeset version` did not write (e.g. an older major's) says the package is what it is not.
  const version = packed.version;
  const prerelease = /^\d+\.\d+\.\d+-/.test(version);
  if (version !== '0.0.0' && !prerelease) {
    const changelog = join(root, dir, 'CHANGELOG.md');
    const released = existsSync(changelog) && readFileSync(changelog, 'utf8').split('\n').includes(`## ${version}`);
    if (!released) {
      fail(name, `packs as ${version}, a release no changeset made (no "## ${version}" in ${dir}/CHANGELOG.md): ` +
        'use 0.0.0 for a new package or a prerelease of the next version (changesets bumps it to the release)');
    }
  }
}

// Every import in a declaration file must resolve for the consumer: Node's own modules (@types/node), this
// package, or a dependency/peer that ships its types or whose @types package is a dependency too. A
// devDependency's types (e.g. @types/debug) are not installed for users.
function checkDeclarationImports({ dir, manifest, packed, files, unpacked }) {
  const installed = new Set([...Object.keys(packed.dependencies ?? {}), ...Object.keys(packed.peerDependencies ?? {})]);
  const specifiers = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*|<reference\s+types\s*=\s*)["']([^"']+)["']/g;
  for (const file of files.filter((f) => /\.d\.[cm]?ts$/.test(f))) {
    const text = readFileSync(join(unpacked, file), 'utf8');
    for (const [, specifier] of text.matchAll(specifiers)) {
      if (specifier.startsWith('.') || specifier.startsWith('node:') || specifier === 'node') continue;
      if (builtinModules.includes(specifier)) continue;
      const dep = packageNameOf(specifier);
      if (dep === packed.name) continue;
      const typesPackage = `@types/${dep.startsWith('@') ? dep.slice(1).replace('/', '__') : dep}`;
      if (!installed.has(dep)) {
        fail(manifest.name, `${file} imports "${specifier}", which is not a dependency: its types do not reach users`);
      } else if (!installed.has(typesPackage) && !shipsTypes(join(root, dir, 'node_modules', dep))) {
        fail(manifest.name, `${file} imports "${specifier}", whose types (${typesPackage}) are not a dependency: ` +
          'define the type yourself rather than re-export the dependency\'s');
      }
    }
  }
}

function shipsTypes(depDir) {
  const manifest = readJson(join(depDir, 'package.json'));
  return Boolean(manifest.types || manifest.typings || /"types"/.test(JSON.stringify(manifest.exports ?? null)) ||
    existsSync(join(depDir, 'index.d.ts')));
}

async function lintAll() {
  const { publint } = await import('publint');
  const { formatMessage } = await import('publint/utils');
  const attw = await import('@arethetypeswrong/core');
  const { problemKindInfo } = await import('@arethetypeswrong/core/problems');
  for (const pkg of publishable) {
    const name = pkg.manifest.name;
    const bytes = new Uint8Array(readFileSync(pkg.tarball));
    const linted = await publint({ pack: { tarball: bytes.slice().buffer }, strict: true });
    for (const message of linted.messages) fail(name, `publint ${message.type}: ${formatMessage(message, linted.pkg, { color: false })}`);

    // attw's strict profile: every entry point under node10, node16 (from CJS and from ESM) and bundler.
    const analysis = await attw.checkPackage(attw.createPackageFromTarballData(bytes));
    if (!analysis.types) fail(name, 'attw: the package ships no types');
    for (const problem of analysis.problems ?? []) {
      const info = problemKindInfo[problem.kind];
      const where = [problem.entrypoint && `"${problem.entrypoint}"`, problem.resolutionKind && `under ${problem.resolutionKind}`];
      fail(name, `attw ${problem.kind}: ${info.shortDescription} ${where.filter(Boolean).join(' ')} (${info.docsUrl}); ` +
        `see it with: pnpm exec attw --pack ${pkg.dir}`);
    }
    console.log(`publint, attw: ${name} checked (${elapsed()})`);
  }
}

async function consumer() {
  const dir = join(work, 'consumer');
  const tarballs = Object.fromEntries(publishable.map((p) => [p.manifest.name, `file:${p.tarball}`]));
  const types = readJson(join(root, 'node_modules/@types/node/package.json')).version;
  const dependencies = { ...tarballs, '@types/node': types };
  for (const ts of TYPESCRIPTS) dependencies[`typescript-${ts.version}`] = `npm:typescript@${ts.version}`;
  // overrides: a package's dependency on another of ours is the tarball too, not the registry.
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, dependencies, pnpm: { overrides: tarballs } }, null, 2));
  console.log(`installing the tarballs and TypeScript ${TYPESCRIPTS.map((t) => t.version).join(', ')} into a consumer project`);
  const installed = await pnpm(['install', '--no-frozen-lockfile', '--prefer-offline', '--config.hoist=false', '--config.node-linker=isolated', '--reporter=append-only'], { cwd: dir });
  if (installed.code !== 0) throw new Error(`pnpm install in the consumer project failed:\n${installed.output}`);
  console.log(`installed (${elapsed()})`);

  const entries = publishable.flatMap((p) =>
    Object.keys(p.packed.exports ?? { '.': null })
      .filter((key) => key !== './package.json' && !key.includes('*'))
      .map((key) => `${p.packed.name}${key.slice(1)}`));
  const imports = entries.map((spec, i) => `import * as entry${i} from '${spec}';`).join('\n');
  const source = `${imports}\nexport const entries = [${entries.map((_, i) => `entry${i}`).join(', ')}];\n`;
  writeFileSync(join(dir, 'esm.mts'), source);
  writeFileSync(join(dir, 'cjs.cts'), source);
  writeFileSync(join(dir, 'any.ts'), source);

  const setups = [
    { name: 'nodenext', module: 'nodenext', moduleResolution: 'nodenext', files: ['esm.mts', 'cjs.cts'] },
    { name: 'node16', module: 'node16', moduleResolution: 'node16', files: ['esm.mts', 'cjs.cts'] },
    { name: 'bundler', module: 'esnext', moduleResolution: 'bundler', files: ['any.ts'] },
    { name: 'node10', module: 'commonjs', moduleResolution: 'node10', files: ['any.ts'] },
  ];
  const runs = TYPESCRIPTS.flatMap((ts) => setups.filter((s) => s.name !== 'node10' || ts.node10).map((setup) => ({ ts, setup })));
  for (const ts of TYPESCRIPTS.filter((t) => !t.node10)) console.log(`tsc ${ts.version} node10: not checked (TypeScript ${ts.version} has no node10 resolution)`);
  await inParallel(runs, 2, async ({ ts, setup }) => {
    const config = `tsconfig.${setup.name}.${ts.version}.json`;
    const major = Number(ts.version.split('.')[0]);
    const compilerOptions = {
      module: setup.module, moduleResolution: setup.moduleResolution, target: 'es2022', lib: ['es2022'], types: ['node'],
      strict: true, skipLibCheck: false, noEmit: true, noUncheckedSideEffectImports: true,
      // TypeScript 6 deprecates node10 resolution (users silence it so); 5.x knows no "6.0".
      ...(setup.name === 'node10' && major === 6 ? { ignoreDeprecations: '6.0' } : {}),
    };
    writeFileSync(join(dir, config), JSON.stringify({ compilerOptions, files: setup.files }, null, 2));
    const tsc = join(dir, 'node_modules', `typescript-${ts.version}`, 'bin', 'tsc');
    const checked = await run(process.execPath, [tsc, '-p', config], { cwd: dir });
    const label = `tsc ${ts.version} ${setup.name} (${setup.module}/${setup.moduleResolution})`;
    if (checked.code !== 0) fail('consumer', `${label}, importing ${entries.length} entry points:\n${checked.output}`);
    else console.log(`${label}: ok (${elapsed()})`);
  });

  // At run time too: require() and import() of every entry point, in a plain Node process.
  const listed = JSON.stringify(entries);
  writeFileSync(join(dir, 'load.cjs'), `for (const spec of ${listed}) require(spec);\n`);
  writeFileSync(join(dir, 'load.mjs'), `for (const spec of ${listed}) await import(spec);\n`);
  for (const file of ['load.cjs', 'load.mjs']) {
    const loaded = await run(process.execPath, [file], { cwd: dir, env: { ...process.env, DEBUG: '' } });
    if (loaded.code !== 0) fail('consumer', `node ${file} (${file.endsWith('cjs') ? 'require' : 'import'} every entry point):\n${loaded.output}`);
    else console.log(`node ${file}: ${entries.length} entry points load`);
  }
}
