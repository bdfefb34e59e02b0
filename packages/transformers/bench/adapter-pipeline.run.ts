// Run by adapter-pipeline.mjs (bundled from sources): the cost of adapterPipeline against a plain
// transformers.js pipeline on the fixture models, measured side by side in one process.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { env, pipeline, type TextGenerationPipeline } from '@huggingface/transformers';
import { adapterPipeline } from '@tsd-peft/transformers';

env.allowRemoteModels = false;

interface Case {
  readonly name: string;
  readonly dir: string;
  readonly dtype: 'fp32' | 'q4';
  readonly adapter: string;
}

const fx = process.env['TSD_FIXTURES'] ?? join(process.cwd(), '..', 'shared');
const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 5);
const TOKENS = Number(process.env['BENCH_TOKENS'] ?? 48);
const cases: Case[] = [
  { name: 'stories260K fp32', dir: join(fx, 'reference/onnx/stories260K'), dtype: 'fp32', adapter: join(fx, 'reference/peft-lora') },
  { name: 'stories260K q4', dir: join(fx, 'reference/onnx/stories260K'), dtype: 'q4', adapter: join(fx, 'reference/peft-lora') },
  { name: 'llama-gqa-tied fp32', dir: join(fx, 'reference/onnx-optimum/llama-gqa-tied/onnx'), dtype: 'fp32', adapter: join(fx, 'reference/onnx-optimum/llama-gqa-tied/adapter') },
];

async function timed<T>(f: () => Promise<T>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

/** ms per generated token (greedy, min = max new tokens, KV cache). */
async function perToken(p: TextGenerationPipeline, prompts: string | string[]): Promise<number> {
  return (await timed(() => p(prompts, { max_new_tokens: TOKENS, min_new_tokens: TOKENS, do_sample: false }))) / TOKENS;
}

const rows: Record<string, unknown>[] = [];
for (const c of cases) {
  const loadPlain: number[] = [];
  const loadAdapter: number[] = [];
  let plain!: TextGenerationPipeline;
  let gen!: Awaited<ReturnType<typeof adapterPipeline<'text-generation'>>>;
  for (let i = 0; i < 3; i++) {
    // Interleaved, and the last pair kept for the timing runs.
    loadPlain.push(
      await timed(async () => {
        plain = (await pipeline('text-generation', c.dir, { dtype: c.dtype })) as TextGenerationPipeline;
      }),
    );
    loadAdapter.push(
      await timed(async () => {
        gen = await adapterPipeline('text-generation', c.dir, { dtype: c.dtype });
      }),
    );
    if (i < 2) await Promise.all([plain.dispose(), gen.dispose()]);
  }
  await gen.loadAdapter('lora', c.adapter);
  const modes = { plain: [] as number[], 'adapter off': [] as number[], 'adapter on': [] as number[], 'plain batch 4': [] as number[], 'adapter on batch 4': [] as number[] };
  const batch = ['Once upon a time', 'The cat', 'A little bird sang', 'One day'];
  await perToken(plain, batch[0] as string); // warm-up
  for (let r = 0; r < REPEATS; r++) {
    modes.plain.push(await perToken(plain, batch[0] as string));
    gen.setAdapter(null);
    modes['adapter off'].push(await perToken(gen, batch[0] as string));
    gen.setAdapter('lora');
    modes['adapter on'].push(await perToken(gen, batch[0] as string));
    modes['plain batch 4'].push(await perToken(plain, batch));
    modes['adapter on batch 4'].push(await perToken(gen, batch));
  }
  const best = (xs: number[]): number => Math.min(...xs);
  const base = best(modes.plain);
  const baseBatch = best(modes['plain batch 4']);
  rows.push({
    case: c.name,
    modules: gen.targetModules.length,
    'load plain ms': Math.min(...loadPlain).toFixed(0),
    'load adapterPipeline ms': Math.min(...loadAdapter).toFixed(0),
    ...Object.fromEntries(Object.entries(modes).map(([k, v]) => [`${k} ms/token`, best(v).toFixed(2)])),
    'off / plain': (best(modes['adapter off']) / base).toFixed(2),
    'on / plain': (best(modes['adapter on']) / base).toFixed(2),
    'on / plain (batch 4)': (best(modes['adapter on batch 4']) / baseBatch).toFixed(2),
  });
  await Promise.all([plain.dispose(), gen.dispose()]);
}
const version = (JSON.parse(readFileSync(join(process.cwd(), 'node_modules/@huggingface/transformers/package.json'), 'utf8')) as { version: string }).version;
console.log(`adapterPipeline vs pipeline(), transformers.js ${version}, ${TOKENS} new tokens, best of ${REPEATS} interleaved runs`);
console.table(rows);
