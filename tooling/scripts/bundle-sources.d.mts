// Types for bundle-sources.mjs (plain JavaScript so the .mjs benches can import it too).
import type { Plugin } from 'esbuild';

/** Installed packages that stay external in {@link bundleNodeEntry}'s bundles. */
export declare const INSTALLED_EXTERNALS: string[];

/** An esbuild plugin resolving `@tsd-peft/{core,tfjs,transformers}[/node]` to packages/<pkg>/src, with their `.wat` kernels assembled. */
export declare const tsdPeftSources: Plugin;

/** Bundles `entry` (an absolute .ts path) into the ESM file `outfile` for Node 20; returns `outfile`. */
export declare function bundleNodeEntry(entry: string, outfile: string): Promise<string>;
