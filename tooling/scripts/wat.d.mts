// Types for wat.mjs (plain JavaScript so tsup configs, vitest and the .mjs bundlers share it).
import type { Plugin as EsbuildPlugin } from 'esbuild';
import type { Plugin as VitePlugin } from 'vite';

/** The module bytes of the WebAssembly text-format source `text`; errors name `path`. */
export declare function assembleWat(path: string, text: string): Promise<Uint8Array<ArrayBuffer>>;

/** ES module source whose default export is the bytes assembled from the `.wat` file at `path`, as variant `query` ('' or e.g. '?relaxed-madd'). */
export declare function watModuleSource(path: string, query?: string): Promise<string>;

/** esbuild plugin loading `*.wat` imports as their assembled bytes. */
export declare const watPlugin: EsbuildPlugin;

/** Vite plugin loading `*.wat` imports as their assembled bytes. */
export declare function watVitePlugin(): VitePlugin;
