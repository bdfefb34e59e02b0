import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build as esbuild } from 'esbuild';
import { build as viteBuild, createLogger, type Rollup } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPackedConsumer } from './packed-consumer.js';

/**
 * Proof that every browser entry of the published packages bundles for the
 * browser: pack the packages, install the tarballs into a fresh consumer, then
 * bundle each entry with esbuild (`platform: 'browser'`) and with Vite. Both
 * must report no error and no warning, and the output must import no Node
 * built-in (Node-only code lives behind `/node` subpaths and tfjs's `#platform`
 * import). TF.js, transformers.js and onnxruntime stay external: their own
 * browser builds are their business, and the consumer installs no peers.
 */
const BROWSER_ENTRIES = ['@tsd-peft/core', '@tsd-peft/tfjs', '@tsd-peft/tfjs/layers', '@tsd-peft/transformers/browser'];
const THIRD_PARTY = /^(@tensorflow\/|@huggingface\/|onnxruntime-)/;
const NODE_BUILTINS = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
const isNodeBuiltin = (id: string) => id.startsWith('node:') || NODE_BUILTINS.has(id) || NODE_BUILTINS.has(id.split('/')[0] ?? id);

const work = mkdtempSync(join(tmpdir(), 'tsd-browser-'));
const consumer = join(work, 'consumer');
const entryFile = (entry: string) => join(consumer, `${entry.replace(/[@/]/g, '_')}.js`);

describe('browser bundles of the packed packages', () => {
  beforeAll(() => {
    installPackedConsumer(work);
    // `export *` keeps every export, so no Node-only code can hide behind tree-shaking.
    for (const entry of BROWSER_ENTRIES) writeFileSync(entryFile(entry), `export * from '${entry}';\n`);
  }, 120_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.each(BROWSER_ENTRIES)('esbuild --platform=browser bundles %s without errors, warnings or Node built-ins', async (entry) => {
    const result = await esbuild({
      entryPoints: [entryFile(entry)],
      absWorkingDir: consumer,
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      outfile: join(consumer, 'out.js'),
      external: ['@tensorflow/*', '@huggingface/*', 'onnxruntime-*'],
      metafile: true,
      logLevel: 'silent',
    }).catch((error: unknown) => {
      const { errors = [] } = error as { errors?: { text: string }[] };
      throw new Error(`esbuild failed on ${entry}:\n${errors.map((e) => e.text).join('\n')}`);
    });
    expect(result.errors).toEqual([]);
    expect(result.warnings.map((w) => w.text)).toEqual([]);
    const imports = Object.values(result.metafile.outputs).flatMap((output) => output.imports.map((i) => i.path));
    expect(imports.filter(isNodeBuiltin), `${entry} imports Node built-ins`).toEqual([]);
    expect(
      imports.filter((id) => !THIRD_PARTY.test(id)),
      `${entry} leaves only TF.js/transformers.js/onnxruntime external`,
    ).toEqual([]);
    // The packages' own code is in the bundle, not left external.
    expect(Object.keys(result.metafile.inputs).some((path) => path.includes('node_modules/@tsd-peft/'))).toBe(true);
  });

  it('vite build bundles every browser entry without warnings or Node built-ins', async () => {
    const warnings: string[] = [];
    const logger = createLogger('warn', { allowClearScreen: false });
    logger.warn = (message) => void warnings.push(message);
    logger.warnOnce = (message) => void warnings.push(message);
    logger.error = (message) => void warnings.push(`error: ${message}`);
    const output = (await viteBuild({
      configFile: false,
      root: consumer,
      logLevel: 'warn',
      customLogger: logger,
      build: {
        write: false,
        minify: false,
        lib: { entry: Object.fromEntries(BROWSER_ENTRIES.map((entry, i) => [`entry${i}`, entryFile(entry)])), formats: ['es'] },
        rollupOptions: {
          external: (id) => THIRD_PARTY.test(id),
          onwarn: (warning) => void warnings.push(warning.message),
        },
      },
    })) as Rollup.RollupOutput | Rollup.RollupOutput[];
    const chunks = (Array.isArray(output) ? output : [output]).flatMap((o) => o.output).filter((o): o is Rollup.OutputChunk => o.type === 'chunk');
    expect(warnings).toEqual([]);
    expect(chunks.filter((c) => c.isEntry)).toHaveLength(BROWSER_ENTRIES.length);
    const imports = chunks.flatMap((c) => [...c.imports, ...c.dynamicImports]).filter((id) => !chunks.some((other) => other.fileName === id));
    expect(imports.filter(isNodeBuiltin)).toEqual([]);
    expect(imports.filter((id) => !THIRD_PARTY.test(id))).toEqual([]);
    // Vite swaps a Node built-in for an empty stub (with a warning) instead of failing: none may be there.
    expect(chunks.filter((c) => c.code.includes('__vite-browser-external')).map((c) => c.fileName)).toEqual([]);
  });
});
