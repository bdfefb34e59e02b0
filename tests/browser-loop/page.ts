/**
 * The whole loop in one page, as a user of the published packages writes it:
 * load stories260K, fine-tune LoRA-Dash for a few steps (WebGPU where a
 * hardware adapter exists, else wasm), keep the adapter as PEFT files (Blobs
 * and OPFS), merge it into the ONNX model in memory, load that with
 * transformers.js in this page and generate, and switch the adapter on and off
 * on a live pipeline (`adapterPipeline`: runtime-adapter rewrite, also in
 * memory). Every number the test checks is put on `globalThis.__loop`; the
 * page asserts nothing.
 *
 * Served by tests/browser-loop.test.ts: /hf/ the HF folder, /models/stories260K/
 * the transformers.js ONNX folder, /ort/ onnxruntime-web's wasm, /tfjs-wasm/
 * TF.js's wasm binaries.
 */
import '@tensorflow/tfjs-backend-webgpu';
import * as tf from '@tensorflow/tfjs-core';
import { AutoTokenizer, env, pipeline, Tensor, type PreTrainedModel, type TextGenerationPipeline } from '@huggingface/transformers';
import { parseSafetensors, peftAdapterBlobs, savePeftAdapterToDirectory, tensorToFloat32, type AdapterDirectoryHandle } from '@tsd-peft/core';
import { indexedBatches, injectAdapters, prefetchHostValues, setupBackend, train } from '@tsd-peft/tfjs';
import {
  BatchSource,
  adapterPipeline,
  architectureFor,
  buildWeightMap,
  chunkTokenStream,
  loadPeftAdapter,
  mergeAdapterIntoOnnx,
  tokenBatchLoss,
  type StoredTensor,
} from '@tsd-peft/transformers/browser';

/** What the test reads. */
export interface LoopState {
  phase: 'running' | 'done' | 'error';
  error: string;
  backend: string;
  fallbackReason: string;
  losses: number[];
  /** Loss of one fixed batch before and after training. */
  evalLossBefore: number;
  evalLossAfter: number;
  /** Milliseconds per optimizer step (steps 2…n: step 1 includes kernel compilation). */
  stepMs: number[];
  launched: number;
  adapterRank: number;
  adapterModules: number;
  /** The adapter read back from Blobs and from OPFS equals the trained one bit for bit. */
  blobRoundTrip: boolean;
  opfsRoundTrip: boolean | string;
  mergeMs: number;
  mergedModules: number;
  /** max |logits| differences on the evaluation prompt. */
  mergedVsTfjs: number;
  switchedOnVsMerged: number;
  switchedOffVsBase: number;
  adapterEffect: number;
  runtimeSlots: number;
  generated: { merged: string; switchedOn: string; switchedOff: string; base: string };
  evalIds: number[];
  /** Seconds per phase of the page. */
  seconds: Record<string, number>;
}

const state: LoopState = {
  phase: 'running',
  error: '',
  backend: '',
  fallbackReason: '',
  losses: [],
  evalLossBefore: NaN,
  evalLossAfter: NaN,
  stepMs: [],
  launched: 0,
  adapterRank: 0,
  adapterModules: 0,
  blobRoundTrip: false,
  opfsRoundTrip: false,
  mergeMs: NaN,
  mergedModules: 0,
  mergedVsTfjs: NaN,
  switchedOnVsMerged: NaN,
  switchedOffVsBase: NaN,
  adapterEffect: NaN,
  runtimeSlots: 0,
  generated: { merged: '', switchedOn: '', switchedOff: '', base: '' },
  evalIds: [],
  seconds: {},
};
let phaseStart = performance.now();
/** Ends the current phase (for the test's timing line). */
function phase(name: string): void {
  const now = performance.now();
  state.seconds[name] = (now - phaseStart) / 1000;
  phaseStart = now;
}
(globalThis as { __loop?: LoopState }).__loop = state;

const TEXT =
  'Once upon a time, a small fox lived near a quiet river. Every morning the fox ran to the water and looked at the fish. ' +
  'One day the fox saw a red boat. "Hello," said the boat man. "Do you want to ride with me?" The fox was happy and jumped in. ' +
  'They went down the river together and saw many birds, trees and flowers. When the sun went down, the fox went home and slept.';
const PROMPT = 'Once upon a time, a small fox';
const STEPS = 6;
const base = new URL('./', location.href).href;

/** In-memory model files that transformers.js fetches like any other, by URL path (`/models/<id>/onnx/model.onnx`). */
const memoryFiles = new Map<string, Uint8Array>();

function configureTransformersJs(): void {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  // A path, not a URL: transformers.js treats an http(s) localModelPath as remote and skips it.
  env.localModelPath = new URL('models/', base).pathname;
  env.useBrowserCache = false;
  env.useWasmCache = false;
  const ortWasm = env.backends.onnx.wasm;
  if (ortWasm === undefined) throw new Error('transformers.js has no onnxruntime-web wasm backend');
  // The sessions here run on wasm only, so onnxruntime-web's plain build (14 MB) does, without the
  // asyncify build (27 MB) that WebGPU sessions need — as transformers.js itself picks for Safari < 26.
  ortWasm.wasmPaths = { mjs: new URL('ort/ort-wasm-simd-threaded.mjs', base).href, wasm: new URL('ort/ort-wasm-simd-threaded.wasm', base).href };
  const fetchFromNetwork = env.fetch;
  // Model `stories260K-merged` exists only in memory: its ONNX file comes from memoryFiles,
  // its config and tokenizer from the base folder.
  env.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    const held = memoryFiles.get(new URL(url, base).pathname);
    if (held !== undefined) return new Response(held as BlobPart, { status: 200, headers: { 'content-type': 'application/octet-stream' } });
    return fetchFromNetwork(url.replace(/\/models\/stories260K-merged\//, '/models/stories260K/'), init);
  };
}

function holdModel(id: string, bytes: Uint8Array): void {
  memoryFiles.set(new URL(`models/${id}/onnx/model.onnx`, base).pathname, bytes);
}

async function fetchBytes(path: string): Promise<Uint8Array> {
  const response = await fetch(new URL(path, base));
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

async function transformersJsLogits(model: PreTrainedModel, ids: readonly number[]): Promise<Float32Array> {
  const t = (v: readonly number[]) => new Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, v.length]);
  const out = (await model({ input_ids: t(ids), attention_mask: t(ids.map(() => 1)) })) as { logits: Tensor };
  return Float32Array.from(out.logits.data as Float32Array);
}

async function greedy(gen: TextGenerationPipeline): Promise<string> {
  const [out] = (await gen(PROMPT, { max_new_tokens: 12, do_sample: false })) as Array<{ generated_text: string }>;
  return out?.generated_text ?? '';
}

async function chooseBackend(): Promise<string> {
  try {
    return await setupBackend('webgpu');
  } catch (err) {
    state.fallbackReason = err instanceof Error ? err.message : String(err);
  }
  return setupBackend('wasm', { wasmPaths: new URL('tfjs-wasm/', base).href });
}

async function run(): Promise<void> {
  configureTransformersJs();
  state.backend = await chooseBackend();

  // 1. stories260K: the HF folder into the TF.js replica; the tokenizer through transformers.js.
  const [configJson, weightsBytes, tokenizer] = await Promise.all([
    fetchBytes('hf/config.json').then((b) => JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>),
    fetchBytes('hf/model.safetensors'),
    AutoTokenizer.from_pretrained('stories260K'),
  ]);
  const spec = architectureFor(configJson['model_type'], 'hf/config.json');
  const replica = spec.createReplica(configJson, 'hf/config.json');
  const stored = new Map<string, StoredTensor>();
  for (const [name, t] of parseSafetensors(weightsBytes, 'hf/model.safetensors').tensors) stored.set(name, { shape: t.shape, read: () => tensorToFloat32(t, name) });
  const { weights } = buildWeightMap(stored, replica, spec, 'hf/model.safetensors');
  const encode = (text: string): number[] => tokenizer.encode(text);
  phase('load');
  state.evalIds = encode(PROMPT);

  // 2. LoRA-Dash (Si et al.): a few Adam steps, launch after t = 2, s = 2 directions on q/v.
  const source = new BatchSource(chunkTokenStream(encode(TEXT), 32), { batchSize: 4, seed: 0 });
  const adapter = injectAdapters(weights, { method: 'lora-dash', r: 4, alpha: 8, t: 2, s: 2, targetModules: ['q_proj', 'v_proj'], seed: 0 });
  const forward = (inputs: Parameters<typeof replica.forward>[0]) => replica.forward(inputs, weights, adapter);
  const evalLoss = async () => {
    const loss = tokenBatchLoss(source.batchAt(0), forward);
    const value = (await loss.data())[0] as number;
    loss.dispose();
    return value;
  };
  state.evalLossBefore = await evalLoss();
  let last = performance.now();
  await train({
    model: adapter,
    lossFn: (batch) => tokenBatchLoss(batch, forward),
    data: indexedBatches((i) => source.batchAt(i)),
    steps: STEPS,
    lr: 1e-2,
    onProgress: (event) => {
      const now = performance.now();
      if (event.step > 1) state.stepMs.push(now - last);
      last = now;
      state.losses.push(event.loss);
    },
  });
  state.evalLossAfter = await evalLoss();
  phase('train');
  state.launched = [...adapter.tsdSelections().values()].filter((s) => s.dashSelected !== undefined).length;
  const unmerged = forward({ inputIds: tf.tensor2d(state.evalIds, [1, state.evalIds.length], 'int32') });
  const tfjsLogits = Float32Array.from(await unmerged.data());
  unmerged.dispose();
  await prefetchHostValues(adapter.hostReadsForState());
  const trained = adapter.toPeftAdapter({ baseModel: 'stories260K' });
  adapter.dispose();
  state.adapterRank = trained.config.r;
  state.adapterModules = trained.modules.size;

  // 3. The adapter as PEFT files: Blobs (download, IndexedDB) and OPFS, read back with loadPeftAdapter.
  const blobs = peftAdapterBlobs(trained);
  const fromBlobs = await loadPeftAdapter(blobs);
  const sameFactors = (other: typeof trained) =>
    [...trained.modules].every(([m, f]) => {
      const g = other.modules.get(m);
      return g !== undefined && maxAbsDiff(f.A.data, g.A.data) === 0 && maxAbsDiff(f.B.data, g.B.data) === 0 && f.scaling === g.scaling;
    });
  state.blobRoundTrip = fromBlobs.modules.size === trained.modules.size && sameFactors(fromBlobs);
  try {
    const root = (await navigator.storage.getDirectory()) as unknown as { getDirectoryHandle(name: string, o: { create: boolean }): Promise<AdapterDirectoryHandle> };
    const dir = await root.getDirectoryHandle('fox-adapter', { create: true });
    await savePeftAdapterToDirectory(dir, trained);
    state.opfsRoundTrip = sameFactors(await loadPeftAdapter(dir));
  } catch (err) {
    state.opfsRoundTrip = `OPFS unavailable: ${err instanceof Error ? err.message : String(err)}`;
  }

  phase('files');
  // 4. Merged export in memory, loaded and run by transformers.js in this page.
  const baseOnnx = await fetchBytes('models/stories260K/onnx/model.onnx');
  const t0 = performance.now();
  const merged = mergeAdapterIntoOnnx(baseOnnx, fromBlobs, { file: 'onnx/model.onnx' });
  state.mergeMs = performance.now() - t0;
  state.mergedModules = merged.modules.length;
  holdModel('stories260K-merged', merged.model);
  const mergedGen = (await pipeline('text-generation', 'stories260K-merged', { dtype: 'fp32', device: 'wasm' })) as TextGenerationPipeline;
  phase('merged-load');
  const mergedLogits = await transformersJsLogits(mergedGen.model, state.evalIds);
  phase('merged-logits');
  state.mergedVsTfjs = maxAbsDiff(mergedLogits, tfjsLogits);
  state.generated.merged = await greedy(mergedGen);
  await mergedGen.dispose();
  phase('merged');

  // 5. The base model, and a live pipeline of the same model with switchable adapters: adapterPipeline
  // reads stories260K's ONNX file as transformers.js does (env.localModelPath through env.fetch),
  // rewrites it in memory for runtime adapters on every linear, and hands back transformers.js's own
  // pipeline; the adapter is the one read back from the PEFT Blobs above.
  const baseGen = (await pipeline('text-generation', 'stories260K', { dtype: 'fp32', device: 'wasm' })) as TextGenerationPipeline;
  const baseLogits = await transformersJsLogits(baseGen.model, state.evalIds);
  state.generated.base = await greedy(baseGen);
  await baseGen.dispose();
  phase('base');
  const live = await adapterPipeline('text-generation', 'stories260K', { dtype: 'fp32', device: 'wasm' });
  state.runtimeSlots = live.targetModules.length;
  await live.loadAdapter('fox', fromBlobs);
  phase('live-load');
  live.setAdapter('fox');
  const onLogits = await transformersJsLogits(live.model, state.evalIds);
  state.generated.switchedOn = await greedy(live);
  live.setAdapter(null);
  const offLogits = await transformersJsLogits(live.model, state.evalIds);
  state.generated.switchedOff = await greedy(live);
  await live.dispose();
  state.switchedOnVsMerged = maxAbsDiff(onLogits, mergedLogits);
  state.switchedOffVsBase = maxAbsDiff(offLogits, baseLogits);
  state.adapterEffect = maxAbsDiff(mergedLogits, baseLogits);
  phase('switch');
  state.phase = 'done';
}

run().catch((err: unknown) => {
  state.phase = 'error';
  state.error = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
});
