/**
 * The arithmetic of a merge, shared by float and quantized weights: W (as
 * stored or dequantized) + scaling·B·A (+ the LoRA-Dash term) in float64,
 * rows rescaled to DoRA's magnitude when there is one.
 */
import { NonFiniteError, ShapeError, dashDelta, loraDelta, rescaleRows, type DashTerm, type LoraFactors } from '@tsd-peft/core';
import type { WeightLayout } from './locate-weight.js';
import type { OnnxModel } from './onnx-model.js';

/**
 * W (as stored, [in, out] or [out, in]) + scaling·B·A (+ dash) in float64, in
 * the stored layout; with a DoRA `magnitude` [out], each output row of that sum
 * rescaled to norm m (core's `rescaleRows`, the arithmetic of `mergeDora`). `maxAbsChange` is measured in float32 after rounding, as
 * a cheap sanity figure for reports.
 */
export function mergedStoredValues(
  model: OnnxModel,
  tensor: string,
  stored: Float32Array,
  layout: WeightLayout,
  out: number,
  inF: number,
  factors: LoraFactors,
  dash: DashTerm | undefined,
  module: string,
  magnitude?: Float32Array,
): { values: Float64Array; maxAbsChange: number } {
  if (stored.length !== out * inF) {
    throw new ShapeError(`initializer holds ${stored.length} values for a [${out}, ${inF}] weight`, { tensor, shape: [out, inF] });
  }
  const delta = loraDelta(factors, module).data; // [out, in], float64
  if (dash !== undefined) {
    const d = dashDelta(dash, dash.d, `${module}.dash`).data;
    for (let i = 0; i < delta.length; i++) delta[i] = (delta[i] as number) + (d[i] as number);
  }
  if (magnitude !== undefined) {
    // ΔW of DoRA = (m/‖W + ΔW_lora‖) ⊙ (W + ΔW_lora) − W, formed in [out, in] from the stored W.
    const at = (o: number, i: number) => (layout === 'in_out' ? i * out + o : o * inF + i);
    for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) delta[o * inF + i] = (delta[o * inF + i] as number) + (stored[at(o, i)] as number);
    rescaleRows(delta, out, inF, magnitude, module);
    for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) delta[o * inF + i] = (delta[o * inF + i] as number) - (stored[at(o, i)] as number);
  }
  const values = new Float64Array(stored.length);
  let maxAbsChange = 0;
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inF; i++) {
      const at = layout === 'in_out' ? i * out + o : o * inF + i;
      const dv = delta[o * inF + i] as number;
      const v = (stored[at] as number) + dv;
      values[at] = v;
      const change = Math.abs(Math.fround(v) - (stored[at] as number));
      if (change > maxAbsChange) maxAbsChange = change;
    }
  }
  if (!Number.isFinite(maxAbsChange)) {
    throw new NonFiniteError(`merged weight of ${module} overflows float32`, { ...(model.file === undefined ? {} : { file: model.file }), tensor });
  }
  return { values, maxAbsChange };
}
