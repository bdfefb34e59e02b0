import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@tsd-peft/core';
import type { LinearProvider } from '@tsd-peft/tfjs';
import { geluTanh } from './activations.js';
import { attentionBias, CausalMaskCache, groupedQueryAttention } from './attention.js';
import { embedTokens } from './embedding.js';
import { checkpointed, GradientCheckpointingSwitch, gradientTensorsOf } from './gradient-checkpointing.js';
import type { Gpt2Config } from './gpt2-config.js';
import { prepareInputs } from './inputs.js';
import { layerNorm } from './norms.js';
import type { CausalLMInputs, CausalLMReplica, WeightMap } from './types.js';
import { requireTensor, requireWeight } from './weights.js';

/**
 * GPT-2's Conv1D modules. Their checkpoints store `[in, out]`; loaders
 * transpose them to the `nn.Linear` layout `[out, in]` so adapters see the
 * same convention as in Llama.
 */
export const GPT2_CONV1D_MODULES = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;

/** True for a GPT-2 Conv1D module path (`transformer.h.3.attn.c_attn`), which Python PEFT adapts with `fan_in_fan_out: true`. */
export function isGpt2Conv1dModule(module: string): boolean {
  const m = /^transformer\.h\.\d+\.(.+)$/.exec(module);
  return m !== null && (GPT2_CONV1D_MODULES as readonly string[]).includes(m[1] as string);
}

/**
 * HF `GPT2LMHeadModel` as a TF.js replica: learned positions, pre-LayerNorm
 * blocks, fused c_attn (q|k|v along the output axis), tanh-GELU MLP, tied head.
 */
export class Gpt2Replica extends GradientCheckpointingSwitch implements CausalLMReplica<Gpt2Config> {
  readonly modelType = 'gpt2';
  private readonly masks = new CausalMaskCache(null);

  constructor(readonly config: Gpt2Config) {
    super();
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
      if (maxPosition >= c.maxPositionEmbeddings) {
        throw new ShapeError(`position ${maxPosition} is beyond n_positions ${c.maxPositionEmbeddings}`, {
          tensor: 'position_ids',
          shape: [batch, seqLen],
        });
      }
      const w = (name: string): tf.Tensor => requireTensor(weights, name);
      const proj = (module: string, x: tf.Tensor2D): tf.Tensor2D => tf.add(linear.linear(module, x), w(`${module}.bias`)) as tf.Tensor2D;
      const posIds = positions ?? tf.tile(tf.reshape(tf.range(0, seqLen, 1, 'int32'), [1, seqLen]), [batch, 1]);
      const bias = attentionBias(this.masks.get(seqLen), mask);
      const d = c.hiddenSize;

      let h: tf.Tensor2D = tf.add(embedTokens(requireWeight(weights, 'transformer.wte.weight'), ids), embedTokens(requireWeight(weights, 'transformer.wpe.weight'), posIds as tf.Tensor2D));
      for (let l = 0; l < c.numLayers; l++) {
        const p = `transformer.h.${l}`;
        // a pure function of its tensor arguments, so gradient checkpointing can run it again in the backward pass
        const layer = (hIn: tf.Tensor, maskBias: tf.Tensor): tf.Tensor => {
          const x = layerNorm(hIn as tf.Tensor2D, w(`${p}.ln_1.weight`), w(`${p}.ln_1.bias`), c.layerNormEps);
          const qkv = proj(`${p}.attn.c_attn`, x);
          const [q, k, v] = tf.split(qkv, [d, d, d], 1).map((t) => tf.reshape(t, [batch, seqLen, c.numHeads, c.headDim]));
          let scale = c.scaleAttnWeights ? 1 / Math.sqrt(c.headDim) : 1;
          if (c.scaleAttnByInverseLayerIdx) scale /= l + 1;
          const context = groupedQueryAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, maskBias as tf.Tensor4D, scale);
          const hMid = tf.add(hIn, proj(`${p}.attn.c_proj`, context)) as tf.Tensor2D;

          const x2 = layerNorm(hMid, w(`${p}.ln_2.weight`), w(`${p}.ln_2.bias`), c.layerNormEps);
          const inner = proj(`${p}.mlp.c_fc`, x2);
          const act = c.activation === 'relu' ? tf.relu(inner) : geluTanh(inner);
          return tf.add(hMid, proj(`${p}.mlp.c_proj`, act));
        };
        h = (this.isGradientCheckpointing ? checkpointed(layer, h, [bias], gradientTensorsOf(linear, `${p}.`)) : layer(h, bias)) as tf.Tensor2D;
      }
      h = layerNorm(h, w('transformer.ln_f.weight'), w('transformer.ln_f.bias'), c.layerNormEps);
      return tf.reshape(h, [batch, seqLen, c.hiddenSize]);
    });
  }

  /** Every projection's module path, layer by layer, then `lm_head`. */
  linearModules(): string[] {
    const names: string[] = [];
    for (let l = 0; l < this.config.numLayers; l++) {
      for (const m of GPT2_CONV1D_MODULES) names.push(`transformer.h.${l}.${m}`);
    }
    names.push('lm_head');
    return names;
  }

  /** Tensor name → shape (Conv1D weights already in `[out, in]`). */
  expectedWeights(): Map<string, number[]> {
    const c = this.config;
    const d = c.hiddenSize;
    const shapes = new Map<string, number[]>();
    shapes.set('transformer.wte.weight', [c.vocabSize, d]);
    shapes.set('transformer.wpe.weight', [c.maxPositionEmbeddings, d]);
    const linears: Record<(typeof GPT2_CONV1D_MODULES)[number], [number, number]> = {
      'attn.c_attn': [3 * d, d],
      'attn.c_proj': [d, d],
      'mlp.c_fc': [c.innerSize, d],
      'mlp.c_proj': [d, c.innerSize],
    };
    for (let l = 0; l < c.numLayers; l++) {
      const p = `transformer.h.${l}`;
      for (const ln of ['ln_1', 'ln_2']) {
        shapes.set(`${p}.${ln}.weight`, [d]);
        shapes.set(`${p}.${ln}.bias`, [d]);
      }
      for (const m of GPT2_CONV1D_MODULES) {
        const shape = linears[m];
        shapes.set(`${p}.${m}.weight`, shape);
        shapes.set(`${p}.${m}.bias`, [shape[0]]);
      }
    }
    shapes.set('transformer.ln_f.weight', [d]);
    shapes.set('transformer.ln_f.bias', [d]);
    shapes.set('lm_head.weight', [c.vocabSize, d]);
    return shapes;
  }

  /** `transformer.wte.weight` when the head is tied. */
  tiedHeadSource(): string | null {
    return this.config.tieWordEmbeddings ? 'transformer.wte.weight' : null;
  }

  /** Frees the cached causal masks. */
  dispose(): void {
    this.masks.dispose();
  }
}
