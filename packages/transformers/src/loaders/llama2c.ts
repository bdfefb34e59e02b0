import { readFile } from 'node:fs/promises';
import { ConfigError, decodeFloat32 } from '@tsd-peft/core';
import type { RawConfig } from '../models/config-fields.js';
import type { StoredTensor } from './weight-map.js';

/** The 7 int32 of a legacy (version 0) llama2.c checkpoint header. */
export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** Absolute vocabulary size. */
  vocabSize: number;
  seqLen: number;
  /** True when the classifier is the token embedding (the header's vocab_size is positive). */
  sharedClassifier: boolean;
}

/** A llama2.c checkpoint as a HF Llama config plus HF-named tensors. */
export interface Llama2cCheckpoint {
  header: Llama2cHeader;
  /** The `config.json` llama2.c's `export.py` would write. */
  config: RawConfig;
  /** HF-named tensors (q/k rows already permuted to HF's RoPE layout). */
  tensors: Map<string, StoredTensor>;
}

const HEADER_BYTES = 28;
/** Magic of llama2.c's versioned exports ("ak42"); only the legacy format is read. */
const VERSIONED_MAGIC = 0x616b3432;

/** Reads and converts a llama2.c `.bin` file; see {@link parseLlama2c}. */
export async function readLlama2c(path: string): Promise<Llama2cCheckpoint> {
  const buf = await readFile(path);
  return parseLlama2c(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}

/**
 * Parses a legacy llama2.c checkpoint (Karpathy's `run.c` layout: header,
 * then fp32 token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3,
 * rms_final, freq_cis_real/imag (skipped), and wcls when unshared) into HF
 * Llama names. llama2.c rotates adjacent RoPE pairs (2i, 2i+1) where HF
 * rotates (i, i + hd/2), so q and k rows are permuted per head as in
 * llama2.c's `export.py`: row h·hd + 2i + j becomes h·hd + j·hd/2 + i
 * (k with n_kv_heads). `file` names the checkpoint in errors.
 */
export function parseLlama2c(bytes: Uint8Array, file: string): Llama2cCheckpoint {
  if (bytes.byteLength < HEADER_BYTES) throw new ConfigError(`file is ${bytes.byteLength} bytes, shorter than the llama2.c header`, { file });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) === VERSIONED_MAGIC) {
    throw new ConfigError('versioned llama2.c exports (magic "ak42") are not supported; export with --version 0 (legacy)', { file });
  }
  const ints = Array.from({ length: 7 }, (_, i) => view.getInt32(4 * i, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = ints as [number, number, number, number, number, number, number];
  const header: Llama2cHeader = {
    dim,
    hiddenDim,
    nLayers,
    nHeads,
    nKvHeads,
    vocabSize: Math.abs(rawVocab),
    seqLen,
    sharedClassifier: rawVocab > 0,
  };
  checkHeader(header, file);
  const hd = dim / nHeads;
  const kvDim = nKvHeads * hd;
  const layout: [string, number][] = [
    ['token_embedding', header.vocabSize * dim],
    ['rms_att', nLayers * dim],
    ['wq', nLayers * dim * dim],
    ['wk', nLayers * kvDim * dim],
    ['wv', nLayers * kvDim * dim],
    ['wo', nLayers * dim * dim],
    ['rms_ffn', nLayers * dim],
    ['w1', nLayers * hiddenDim * dim],
    ['w2', nLayers * dim * hiddenDim],
    ['w3', nLayers * hiddenDim * dim],
    ['rms_final', dim],
    ['freq_cis', seqLen * hd], // real and imaginary halves, seq_len·hd/2 each
    ['wcls', header.sharedClassifier ? 0 : header.vocabSize * dim],
  ];
  const floats = layout.reduce((n, [, count]) => n + count, 0);
  const expected = HEADER_BYTES + 4 * floats;
  if (bytes.byteLength !== expected) {
    throw new ConfigError(
      `file is ${bytes.byteLength} bytes but its header (dim ${dim}, hidden ${hiddenDim}, layers ${nLayers}, heads ${nHeads}/${nKvHeads}, vocab ${rawVocab}, seq ${seqLen}) implies ${expected}`,
      { file },
    );
  }
  const all = decodeFloat32(bytes.subarray(HEADER_BYTES));
  const regions = new Map<string, Float32Array>();
  let at = 0;
  for (const [name, count] of layout) {
    regions.set(name, all.subarray(at, at + count));
    at += count;
  }
  const region = (name: string): Float32Array => regions.get(name) as Float32Array;
  const perLayer = (name: string, l: number): Float32Array => {
    const r = region(name);
    const size = r.length / nLayers;
    return r.subarray(l * size, (l + 1) * size);
  };

  const tensors = new Map<string, StoredTensor>();
  const put = (name: string, shape: number[], data: () => Float32Array): void => {
    tensors.set(name, { shape, read: data });
  };
  put('model.embed_tokens.weight', [header.vocabSize, dim], () => region('token_embedding').slice());
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}`;
    put(`${p}.input_layernorm.weight`, [dim], () => perLayer('rms_att', l).slice());
    put(`${p}.self_attn.q_proj.weight`, [dim, dim], () => permuteRopeRows(perLayer('wq', l), nHeads, hd, dim));
    put(`${p}.self_attn.k_proj.weight`, [kvDim, dim], () => permuteRopeRows(perLayer('wk', l), nKvHeads, hd, dim));
    put(`${p}.self_attn.v_proj.weight`, [kvDim, dim], () => perLayer('wv', l).slice());
    put(`${p}.self_attn.o_proj.weight`, [dim, dim], () => perLayer('wo', l).slice());
    put(`${p}.post_attention_layernorm.weight`, [dim], () => perLayer('rms_ffn', l).slice());
    put(`${p}.mlp.gate_proj.weight`, [hiddenDim, dim], () => perLayer('w1', l).slice());
    put(`${p}.mlp.down_proj.weight`, [dim, hiddenDim], () => perLayer('w2', l).slice());
    put(`${p}.mlp.up_proj.weight`, [hiddenDim, dim], () => perLayer('w3', l).slice());
  }
  put('model.norm.weight', [dim], () => region('rms_final').slice());
  if (!header.sharedClassifier) put('lm_head.weight', [header.vocabSize, dim], () => region('wcls').slice());
  return { header, config: llama2cConfig(header), tensors };
}

/**
 * Row permutation from llama2.c's interleaved RoPE pairs to HF's half split
 * (the inverse of `permute` in llama2.c's `export.py`): within each head,
 * source row 2i + j goes to j·hd/2 + i. `w` is `[heads·hd, cols]` row-major.
 */
export function permuteRopeRows(w: Float32Array, heads: number, hd: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * hd + 2 * i + j) * cols;
        const dst = (h * hd + j * half + i) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

/** The HF config llama2.c's `export.py` writes (eps 1e-5, θ 10000, BOS 1, EOS 2 as in run.c). */
export function llama2cConfig(h: Llama2cHeader): RawConfig {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: h.dim,
    intermediate_size: h.hiddenDim,
    num_hidden_layers: h.nLayers,
    num_attention_heads: h.nHeads,
    num_key_value_heads: h.nKvHeads,
    head_dim: h.dim / h.nHeads,
    vocab_size: h.vocabSize,
    max_position_embeddings: h.seqLen,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: 'silu',
    tie_word_embeddings: h.sharedClassifier,
    bos_token_id: 1,
    eos_token_id: 2,
  };
}

function checkHeader(h: Llama2cHeader, file: string): void {
  const fields: [string, number][] = [
    ['dim', h.dim],
    ['hidden_dim', h.hiddenDim],
    ['n_layers', h.nLayers],
    ['n_heads', h.nHeads],
    ['n_kv_heads', h.nKvHeads],
    ['vocab_size', h.vocabSize],
    ['seq_len', h.seqLen],
  ];
  for (const [name, value] of fields) {
    if (!(value > 0)) throw new ConfigError(`llama2.c header field ${name} is ${value}; is this a llama2.c legacy .bin?`, { file });
  }
  if (h.dim % h.nHeads !== 0 || (h.dim / h.nHeads) % 2 !== 0) {
    throw new ConfigError(`llama2.c header: dim ${h.dim} does not split into ${h.nHeads} heads of even size`, { file });
  }
  if (h.nHeads % h.nKvHeads !== 0) {
    throw new ConfigError(`llama2.c header: n_heads ${h.nHeads} is not a multiple of n_kv_heads ${h.nKvHeads}`, { file });
  }
}
