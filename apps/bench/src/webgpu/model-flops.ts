import { baseWeightShape, isDenseMethod, moduleOfWeight, selectTargetModules, type AdapterMethod, type BaseWeight } from '@tsd-peft/tfjs';

/**
 * Model FLOPs of a training token, the numerator of MFU, counting matmuls
 * only, as MFU conventionally does (Chowdhery et al. 2022, App. B).
 */

/** The matmul sizes one token passes through. */
export interface ModelFlopShape {
  /** Parameters of the transformer blocks' linear weights, all layers (each multiplies every token once). */
  blockLinearParams: number;
  /** vocab × hidden: the LM head, tied or not. */
  headParams: number;
  layers: number;
  hidden: number;
}

/**
 * Forward: 2·(block linears + head) plus attention's QKᵀ and PV, 2·2·T·d
 * per layer (the full T×T the kernels compute). Backward: every linear
 * needs its input gradient (1× the forward); only `full` adds the weight
 * gradients, and only of the block linears, since the head (the tied
 * embedding) stays frozen as in PEFT's `all-linear`. Attention's backward is
 * 2× its forward. The rank-r adapter products are left out (≈ r/d of the
 * linear work), so MFU slightly understates the work done.
 */
export function trainingFlopsPerToken(shape: ModelFlopShape, seq: number, method: AdapterMethod): number {
  const blocks = 2 * shape.blockLinearParams;
  const head = 2 * shape.headParams;
  const attention = shape.layers * 2 * 2 * seq * shape.hidden;
  return (isDenseMethod(method) ? 3 : 2) * blocks + 2 * head + 3 * attention;
}

/** The FLOP shape of a loaded model: its `all-linear` modules' weights, and a vocab × hidden head. */
export function flopShapeOf(weights: ReadonlyMap<string, BaseWeight>, config: { vocabSize: number; hiddenSize: number; numLayers: number }): ModelFlopShape {
  const byModule = new Map<string, number>();
  for (const [name, w] of weights) {
    const shape = baseWeightShape(w);
    if (shape.length === 2) byModule.set(moduleOfWeight(name), (shape[0] as number) * (shape[1] as number));
  }
  const linear = selectTargetModules(byModule.keys(), 'all-linear');
  return {
    blockLinearParams: linear.reduce((sum, m) => sum + (byModule.get(m) ?? 0), 0),
    headParams: config.vocabSize * config.hiddenSize,
    layers: config.numLayers,
    hidden: config.hiddenSize,
  };
}
