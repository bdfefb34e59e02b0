/**
 * One measurement of loading a quantized (q4/q8) transformers.js variant as a
 * frozen base (issue 19, item 2), in a fresh process so that its peak RSS is
 * its own: `{ mode: 'write', dir, shape }` writes a random model of a real
 * shape as a q4 ONNX folder (`onnx/model_q4.onnx`, MatMulNBits block 32,
 * quantized by this package's `quantizeBlockwise4`, the MLAS scheme); `{ mode:
 * 'load', dir, file, frozenDtype }` times `loadCausalLM` and reports peak RSS,
 * the wasm heap and the bytes the frozen weights hold. Bundled by
 * quantized-load.bench.mjs. The written graph has only what the weight reader
 * follows (embedding Gather, MatMulNBits per projection, HF-named norms), so it
 * is a loader fixture, not a model onnxruntime runs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@tsd-peft/core';
import { baseWeightBytes, setupBackend } from '@tsd-peft/tfjs';
import { loadCausalLM } from '../src/load-causal-lm.js';
import { createReplica } from '../src/models/registry.js';
import { encodeModel, encodeTensor, encodeTensorValueInfo, type NodeSpec } from '../src/onnx/onnx-encode.js';
import { OnnxDataType } from '../src/onnx/onnx-model.js';
import { blocksOf, quantizeBlockwise4 } from '../src/onnx/quantize.js';
import { REAL_SHAPES, type ShapeName } from './perf.shapes.js';

type Args = { mode: 'write'; dir: string; shape: ShapeName; layers?: number } | { mode: 'load'; dir: string; file: string; frozenDtype?: 'float32' | 'bfloat16' | 'int8' };
const args = JSON.parse(process.argv[2] ?? '{}') as Args;

const BLOCK = 32;

function write(dir: string, shape: ShapeName, layers: number | undefined): void {
  const raw = { ...REAL_SHAPES[shape], ...(layers === undefined ? {} : { num_hidden_layers: layers }) };
  const replica = createReplica(raw, '<bench config>');
  const rng = Rng.fromSeed(1);
  const nodes: NodeSpec[] = [];
  const initializers: Uint8Array[] = [];
  for (const [name, dims] of replica.expectedWeights()) {
    if (name === 'lm_head.weight') continue; // tied
    const size = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (dims.length === 1) data.fill(1);
    else for (let i = 0; i < size; i++) data[i] = rng.normal() * 0.02;
    const module = name.slice(0, -'.weight'.length);
    if (dims.length === 1 || name === 'model.embed_tokens.weight') {
      initializers.push(encodeTensor(name, OnnxDataType.FLOAT, dims, { raw: new Uint8Array(data.buffer) }));
      if (name === 'model.embed_tokens.weight') nodes.push({ name: '/model/embed_tokens/Gather', opType: 'Gather', inputs: [name, 'input_ids'], outputs: ['embeds'] });
      continue;
    }
    const [n, k] = dims as [number, number];
    const q = quantizeBlockwise4(data, n, k, BLOCK);
    const blocks = blocksOf(k, BLOCK);
    initializers.push(encodeTensor(`${module}.B`, OnnxDataType.UINT8, [n, blocks, BLOCK / 2], { raw: q.packed }));
    initializers.push(encodeTensor(`${module}.scales`, OnnxDataType.FLOAT, [n * blocks], { raw: new Uint8Array(q.scales.buffer) }));
    nodes.push({
      name: `/${module.replace(/\.(?!\d)/g, '/')}/MatMul_Q4`, // transformers.js' node naming: /model/layers.0/self_attn/q_proj/…
      opType: 'MatMulNBits',
      domain: 'com.microsoft',
      inputs: [`${module}.in`, `${module}.B`, `${module}.scales`],
      outputs: [`${module}.out`],
      attributes: [
        { name: 'K', i: k },
        { name: 'N', i: n },
        { name: 'bits', i: 4 },
        { name: 'block_size', i: BLOCK },
      ],
    });
  }
  replica.dispose();
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(raw, null, 2));
  const bytes = encodeModel({
    name: 'q4-bench',
    nodes,
    initializers,
    inputs: [encodeTensorValueInfo('input_ids', OnnxDataType.INT64, [1, 'sequence'])],
    outputs: [],
    extraOpsets: [{ domain: 'com.microsoft', version: 1 }],
  });
  writeFileSync(join(dir, 'onnx', 'model_q4.onnx'), bytes);
  console.log(JSON.stringify({ bytes: bytes.byteLength }));
}

async function load(dir: string, file: string, frozenDtype: 'float32' | 'bfloat16' | 'int8' | undefined): Promise<void> {
  await setupBackend('wasm');
  const heap = (): number => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.byteLength;
  const heapBefore = heap();
  const start = performance.now();
  const model = await loadCausalLM(dir, { onnxFile: file, tokenizer: false, ...(frozenDtype === undefined ? {} : { frozenDtype }) });
  const loadMs = performance.now() - start;
  const weightBytes = [...new Set(model.weights.values())].reduce((s, w) => s + baseWeightBytes(w), 0);
  const ids = [[1, 2, 3, 4, 5, 6, 7, 8]];
  const f0 = performance.now();
  const logits = model.forward({ inputIds: ids });
  const checksum = (tf.sum(logits).dataSync()[0] as number) / logits.size;
  const forwardMs = performance.now() - f0;
  logits.dispose();
  console.log(
    JSON.stringify({
      loadMs,
      forwardMs,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      wasmHeapMiB: heap() / 2 ** 20,
      wasmHeapBeforeMiB: heapBefore / 2 ** 20,
      weightMiB: weightBytes / 2 ** 20,
      kept: model.source.quantizedTensors.kept.length,
      checksum,
    }),
  );
  model.dispose();
}

if (args.mode === 'write') write(args.dir, args.shape, args.layers);
else await load(args.dir, args.file, args.frozenDtype);
