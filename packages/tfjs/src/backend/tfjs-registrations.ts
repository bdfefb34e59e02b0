import { TsdError } from '@tsd-peft/core';
import { registerModuleHooks } from '#platform';

/**
 * Loads tfjs-core's gradient and chained-op registrations, which importing
 * `@tensorflow/tfjs-core` alone does not do (only the `@tensorflow/tfjs`
 * umbrella package does). They ship only as ES modules with extensionless
 * relative imports: bundlers (vite, webpack, esbuild) resolve those, but
 * Node's own ESM loader refuses them. In Node we therefore first register a
 * tiny resolve hook ({@link TFJS_CORE_ESM_HOOKS_SOURCE}) scoped to
 * tfjs-core's `dist/` folder; it is harmless where a bundler already
 * resolved the files.
 */

const GRADIENTS = '@tensorflow/tfjs-core/dist/register_all_gradients.js';

/**
 * Node module-resolution hooks (for `module.register`) that let Node load
 * tfjs-core's ES module files: inside `@tensorflow/tfjs-core/dist/`, an
 * extensionless relative specifier gets `.js`, and those files are loaded as
 * ES modules. Nothing outside that folder is touched, and the CommonJS
 * bundles (`dist/tf-core*.js`) keep their format.
 */
export const TFJS_CORE_ESM_HOOKS_SOURCE = `
const DIST = '/@tensorflow/tfjs-core/dist/';
const isEsmFile = (url) => url.includes(DIST) && !/\\/dist\\/tf-core[^/]*\\.js$/.test(url) && !url.includes('/dist/miniprogram/');
export async function resolve(specifier, context, next) {
  const parent = context.parentURL ?? '';
  if (parent.includes(DIST) && /^\\.\\.?\\//.test(specifier) && !specifier.endsWith('.js')) {
    const r = await next(specifier + '.js', context);
    return { ...r, format: 'module' };
  }
  const r = await next(specifier, context);
  return isEsmFile(r.url) ? { ...r, format: 'module' } : r;
}
`;

let loaded: Promise<void> | undefined;

/** Registers tfjs-core's gradients and chained ops once (idempotent, concurrency-safe). */
export function registerTfjsGradientsAndChainedOps(): Promise<void> {
  loaded ??= load().catch((err: unknown) => {
    loaded = undefined;
    throw err;
  });
  return loaded;
}

async function load(): Promise<void> {
  // In Node the hook goes in first: a failed import would stay cached as failed.
  if (isNode()) registerModuleHooks(TFJS_CORE_ESM_HOOKS_SOURCE, GRADIENTS);
  try {
    await importBoth();
  } catch (err) {
    throw new TsdError(`could not load tfjs-core's gradient registrations (${GRADIENTS})`, {}, 'TSD_ERROR', { cause: err });
  }
}

async function importBoth(): Promise<void> {
  // Literal specifiers, so that browser bundlers include both modules.
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  await import('@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js');
}

/** True in Node.js (not in browsers or workers). */
export function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions === 'object' && process.versions.node !== undefined;
}
