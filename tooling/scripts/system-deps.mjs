#!/usr/bin/env node
// Makes `npm test` self-sufficient on a bare Debian machine: it installs the
// system packages a few suites need (Chromium for the report and browser-demo
// tests, Mesa EGL/GLES for Dawn's WebGPU on llvmpipe) when they are missing,
// and stops with one line naming them where it cannot (not root, no apt).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** Where the browser tests look for Debian's Chromium. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

const MESA_LIBS = ['libEGL_mesa.so', 'libGLESv2.so.2'];

/** What the test suite needs from the system, with Debian's package names. */
export const REQUIREMENTS = [
  { name: 'Chromium', for: 'bench report and browser demo tests', packages: ['chromium'], present: () => existsSync(CHROMIUM_PATH) },
  {
    name: 'Mesa EGL/GLES',
    for: 'WebGPU tests (Dawn on llvmpipe)',
    packages: ['libegl1', 'libegl-mesa0', 'libgles2', 'libgl1-mesa-dri'],
    present: () => {
      const cache = sharedLibraryCache();
      return MESA_LIBS.every((lib) => cache.includes(lib)) && hasSoftwareRasterizer();
    },
  },
];

/**
 * What to do about the missing requirements: nothing, install them with apt,
 * or fail with one line that says what to install.
 * @param {{ missing: typeof REQUIREMENTS, isRoot: boolean, hasApt: boolean }} probe
 * @returns {{ action: 'none' } | { action: 'install', packages: string[] } | { action: 'fail', message: string }}
 */
export function planSystemDeps({ missing, isRoot, hasApt }) {
  if (missing.length === 0) return { action: 'none' };
  const packages = missing.flatMap((r) => r.packages);
  if (isRoot && hasApt) return { action: 'install', packages };
  const what = missing.map((r) => `${r.name} (${r.for})`).join(' and ');
  const how = hasApt ? `sudo apt-get install -y ${packages.join(' ')}` : `your system's packages for ${missing.map((r) => r.name).join(' and ')} (Debian: ${packages.join(' ')})`;
  return { action: 'fail', message: `npm test needs ${what}; install them with: ${how}` };
}

function sharedLibraryCache() {
  for (const ldconfig of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    try {
      return execFileSync(ldconfig, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      // try the next location: /sbin is not on every PATH
    }
  }
  return '';
}

function hasSoftwareRasterizer() {
  for (const lib of ['/usr/lib', '/usr/lib64']) {
    if (!existsSync(lib)) continue;
    const dirs = [lib, ...readdirSync(lib).map((d) => `${lib}/${d}`)];
    if (dirs.some((d) => existsSync(`${d}/dri/swrast_dri.so`))) return true;
  }
  return false;
}

function commandExists(command) {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function run() {
  const missing = REQUIREMENTS.filter((r) => !r.present());
  const plan = planSystemDeps({ missing, isRoot: process.getuid?.() === 0, hasApt: commandExists('apt-get') });
  if (plan.action === 'none') return 0;
  if (plan.action === 'fail') {
    console.error(plan.message);
    return 1;
  }
  console.error(`installing system packages for the tests: ${plan.packages.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    execFileSync('apt-get', ['install', '-y', '-qq', ...plan.packages], { stdio: ['ignore', 'ignore', 'inherit'], env });
  } catch {
    console.error(`npm test needs ${plan.packages.join(' ')}, and \`apt-get install\` failed; install them by hand`);
    return 1;
  }
  const still = REQUIREMENTS.filter((r) => !r.present());
  if (still.length > 0) {
    console.error(`installed ${plan.packages.join(' ')}, but ${still.map((r) => r.name).join(' and ')} is still not found`);
    return 1;
  }
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = run();
