import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { TsdError, type ErrorLocation } from '../errors.js';

/** A test or bench fixture is missing from the fixtures folder. */
export class FixtureMissingError extends TsdError {
  constructor(message: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(message, location, 'FIXTURE_MISSING', options);
  }
}

/** Environment variable that points at the fixtures folder (a copy of `shared/`). */
export const FIXTURES_ENV = 'TSD_FIXTURES';

/**
 * The fixtures folder: `$TSD_FIXTURES` when set, else `../shared` beside the
 * repository root (the nearest ancestor of `cwd` whose package.json declares
 * workspaces, or `cwd` itself outside a checkout).
 */
export function fixturesDir(cwd: string = process.cwd()): string {
  const fromEnv = process.env[FIXTURES_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return resolve(findRepoRoot(cwd), '..', 'shared');
}

/**
 * Absolute path of a fixture below {@link fixturesDir}. Throws
 * {@link FixtureMissingError} naming the file and `TSD_FIXTURES` when it is absent,
 * so a test never passes silently without its data.
 */
export function fixturePath(...parts: string[]): string {
  const path = join(fixturesDir(), ...parts);
  if (!existsSync(path)) {
    throw new FixtureMissingError(`fixture ${parts.join('/')} not found; set ${FIXTURES_ENV} to a folder holding it (default: ../shared beside the repo root)`, { file: path });
  }
  return path;
}

/** True when the fixture exists, for optional fixtures such as `reference/onnx`. */
export function hasFixture(...parts: string[]): boolean {
  return existsSync(join(fixturesDir(), ...parts));
}

function findRepoRoot(start: string): string {
  let dir = resolve(start);
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && declaresWorkspaces(manifest)) return dir;
    const parent = dirname(dir);
    if (parent === dir) return resolve(start);
    dir = parent;
  }
}

function declaresWorkspaces(manifest: string): boolean {
  try {
    const parsed: unknown = JSON.parse(readFileSync(manifest, 'utf8'));
    return typeof parsed === 'object' && parsed !== null && 'workspaces' in parsed;
  } catch {
    return false;
  }
}
