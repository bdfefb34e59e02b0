import * as tf from '@tensorflow/tfjs-core';
import type { LinearProvider } from '@tsd-peft/tfjs';
import { swiGlu } from './activations.js';
import { attentionBias, CausalMaskCache, groupedQueryAttention } from './attention.js';
import { embedTokens } from './embedding.js';
import { checkpointed, GradientCheckpointingSwitch, gradientTensorsOf } from './gradient-checkpointing.js';
import { prepareInputs } from './inputs.js';
import type { LlamaConfig } from './llama-config.js';
import { rmsNorm } from './norms.js';
import { applyRope, RopeCache } from './rope.js';
import type { CausalLMInputs, CausalLMReplica, WeightMap } from './types.js';
import { requireTensor, requireWeight } from './weights.js';

/** HF module path of the token embedding table. */
export const LLAMA_EMBEDDING = 'model.embed_tokens';

const ATTN_PROJ = ['q_proj', 'k_proj', 'v_proj', 'o_proj'] as const;
const MLP_PROJ = ['gate_proj', 'up_proj', 'down_proj'] as const;

/**
 * The Llama-family decoder (Llama, Mistral, Qwen2) as a TF.js replica of HF
 * `LlamaForCausalLM` in eager attention: RMSNorm, RoPE with rotate_half,
 * grouped-query attention, SwiGLU MLP, tied or untied head, optional biases.
 * Everything in the graph has gradients on cpu and wasm: 2-D matmuls for
 * projections and RoPE, equal-batch 3-D matmuls for attention, no strided
 * slices or einsums.
 */
export class LlamaReplica extends GradientCheckpointingSwitch implements CausalLMReplica<LlamaConfig> {
  readonly modelType: string;
  private readonly rope: RopeCache;
  private readonly masks: CausalMaskCache;

  constructor(readonly config: LlamaConfig) {
    super();
    this.modelType = config.modelType;
    this.rope = new RopeCache(config.headDim, config.ropeTheta, config.ropeScaling);
    this.masks = new CausalMaskCache(config.slidingWindow);
  }

  /** Logits `[B, T, vocab]`; see {@link CausalLMReplica.forward}. */
  forward(inputs: CausalLMInputs, weights: WeightMap, linear: LinearProvider): tf.Tensor3D {
    return tf.tidy(() => {
      const h = this.hiddenStates(inputs, weights, linear);
      const [batch, seqLen, d] = h.shape;
      return tf.reshape(linear.linear('lm_head', tf.reshape(h, [batch * seqLen, d])), [batch, seqLen, this.config.vocabSize]);
    });
  }

  /** The final normed hidden states `[B, T, hidden]`, lm_head's input; see {@link CausalLMReplica.hiddenStates}. */
  hiddenStates(inputs: CausalLMInputs, weights: WeightMap, linear: LinearProvider): tf.Tensor3D {
    const c = this.config;
    return tf.tidy(() => {
      const { ids, mask, positions, maxPosition, batch, seqLen } = prepareInputs(inputs, c.vocabSize);
      const angles = positions === null ? this.rope.forLength(seqLen) : this.rope.forPositions(positions, maxPosition);
      const rotation = this.rope.rotateHalf();
      const bias = attentionBias(this.masks.get(seqLen), mask);
      const scale = 1 / Math.sqrt(c.headDim);
      const w = (name: string): tf.Tensor => requireTensor(weights, name);
      const proj = (module: string, x: tf.Tensor2D, withBias: boolean): tf.Tensor2D => {
        const y = linear.linear(module, x);
        return withBias ? tf.add(y, w(`${module}.bias`)) : y;
      };

      let h = embedTokens(requireWeight(weights, `${LLAMA_EMBEDDING}.weight`), ids);
      for (let l = 0; l < c.numLayers; l++) {
        const p = `model.layers.${l}`;
        // a pure function of its tensor arguments, so gradient checkpointing can run it again in the backward pass
        const layer = (hIn: tf.Tensor, ...t: tf.Tensor[]): tf.Tensor => {
          const [cos, sin, maskBias] = t as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
          const x = rmsNorm(hIn as tf.Tensor2D, w(`${p}.input_layernorm.weight`), c.rmsNormEps);
          const heads = (name: string, n: number): tf.Tensor4D => tf.reshape(proj(`${p}.self_attn.${name}`, x, c.qkvBias), [batch, seqLen, n, c.headDim]);
          const q = applyRope(heads('q_proj', c.numHeads), { cos, sin }, rotation);
          const k = applyRope(heads('k_proj', c.numKvHeads), { cos, sin }, rotation);
          const v = heads('v_proj', c.numKvHeads);
          const context = groupedQueryAttention(q, k, v, maskBias, scale);
          const hMid = tf.add(hIn, proj(`${p}.self_attn.o_proj`, context, c.oBias)) as tf.Tensor2D;

          const x2 = rmsNorm(hMid, w(`${p}.post_attention_layernorm.weight`), c.rmsNormEps);
          const gate = proj(`${p}.mlp.gate_proj`, x2, c.mlpBias);
          const up = proj(`${p}.mlp.up_proj`, x2, c.mlpBias);
          return tf.add(hMid, proj(`${p}.mlp.down_proj`, swiGlu(gate, up), c.mlpBias));
        };
        const constants = [angles.cos, angles.sin, bias];
        h = (this.isGradientCheckpointing ? checkpointed(layer, h, constants, gradientTensorsOf(linear, `${p}.`)) : layer(h, ...constants)) as tf.Tensor2D;
      }
      h = rmsNorm(h, w('model.norm.weight'), c.rmsNormEps);
      return tf.reshape(h, [batch, seqLen, c.hiddenSize]);
    });
  }

  /** Every projection's module path, layer by layer, then `lm_head`. */
  linearModules(): string[] {
    const names: string[] = [];
    for (let l = 0; l < this.config.numLayers; l++) {
      for (const m of ATTN_PROJ) names.push(`model.layers.${l}.self_attn.${m}`);
      for (const m of MLP_PROJ) names.push(`model.layers.${l}.mlp.${m}`);
    }
    names.push('lm_head');
    return names;
  }

  /** Tensor name → HF shape of every weight the forward reads. */
  expectedWeights(): Map<string, number[]> {
    const c = this.config;
    const d = c.hiddenSize;
    const qOut = c.numHeads * c.headDim;
    const kvOut = c.numKvHeads * c.headDim;
    const shapes = new Map<string, number[]>();
    shapes.set(`${LLAMA_EMBEDDING}.weight`, [c.vocabSize, d]);
    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}`;
      shapes.set(`${p}.input_layernorm.weight`, [d]);
      shapes.set(`${p}.post_attention_layernorm.weight`, [d]);
      const attn: Record<(typeof ATTN_PROJ)[number], [number, number]> = {
        q_proj: [qOut, d],
        k_proj: [kvOut, d],
        v_proj: [kvOut, d],
        o_proj: [d, qOut],
      };
      for (const m of ATTN_PROJ) {
        const shape = attn[m];
        shapes.set(`${p}.self_attn.${m}.weight`, shape);
        if (m === 'o_proj' ? c.oBias : c.qkvBias) shapes.set(`${p}.self_attn.${m}.bias`, [shape[0]]);
      }
      const mlp: Record<(typeof MLP_PROJ)[number], [number, number]> = {
        gate_proj: [c.intermediateSize, d],
        up_proj: [c.intermediateSize, d],
        down_proj: [d, c.intermediateSize],
      };
      for (const m of MLP_PROJ) {
        const shape = mlp[m];
        shapes.set(`${p}.mlp.${m}.weight`, shape);
        if (c.mlpBias) shapes.set(`${p}.mlp.${m}.bias`, [shape[0]]);
      }
    }
    shapes.set('model.norm.weight', [d]);
    shapes.set('lm_head.weight', [c.vocabSize, d]);
    return shapes;
  }

  /** `model.embed_tokens.weight` when the head is tied. */
  tiedHeadSource(): string | null {
    return this.config.tieWordEmbeddings ? `${LLAMA_EMBEDDING}.weight` : null;
  }

  /** Frees the cached RoPE tables and causal masks. */
  dispose(): void {
    this.rope.dispose();
    this.masks.dispose();
  }
}
