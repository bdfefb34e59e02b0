import * as tf from '@tensorflow/tfjs-core';
import {
  changeRates,
  combineRecords,
  dashBasis,
  dashRecord,
  loraFactorsRecord,
  readDashState,
  readLoraFactors,
  selectTaskSpecificDirections,
  toPlainLora,
  type DashBasis,
  type Matrix,
  type StateRecord,
} from '@tsd-peft/core';
import type { AdapterMethod } from './registry.js';
import { loraVariant, type LoraState } from './lora.js';
import { adaptedLinear, foldPays, type DashTensors } from './adapted-linear.js';
import type { ModuleContext, Variant } from './variant.js';

/** Key of the dash coefficient variable d [s]. */
export const DASH_D_KEY = 'dash_d';

/** A launched dash term: frozen bases, their pre-transposed forward copies and the trainable d. */
export interface DashLaunch {
  /** Selected direction indices into W's descending singular values, by descending change rate. */
  readonly selected: Int32Array;
  /**
   * Change rates of all directions at launch (ΔW = the adapter's update
   * relative to W); kept through checkpoints and native files, absent only
   * after restoring a format-1 native file, which did not store them.
   */
  readonly rates?: Float64Array;
  /** The singular values of the original W (descending), as the rates divide by them; absent as `rates`. */
  readonly sigma?: Float64Array;
  /** U_s [out, s] and V_sᵀ [s, in] as core matrices (for export and merging). */
  readonly basis: DashBasis;
  /** The bases as tensors in both layouts (no transposed matMul anywhere) and the trainable d. */
  readonly tensors: DashTensors;
}

/** LoRA-Dash state: the wrapped variant's state, plus the dash term once launched. */
export interface DashState<I> {
  readonly inner: I;
  readonly launch: DashLaunch | null;
}

/**
 * Wraps any low-rank variant with LoRA-Dash (Si et al., arXiv 2409.01035,
 * §4.2). Pre-launch: the inner variant trains alone for `t` optimizer steps
 * after it has settled. Launch (in the after-step hook when that count is
 * reached, i.e. before the forward of 0-based step t): the exact SVD of the
 * original W (cached by content), change rates δᵢ = |uᵢᵀ ΔW vᵢ| / σᵢ under
 * the inner adapter's update ΔW relative to W, the top-s directions frozen as
 * U_s, V_s, and a new trainable d = 0. Dash phase: the forward adds the
 * unscaled x·(U_s diag(d) V_sᵀ)ᵀ, computed as ((x·V_s) ⊙ d)·U_sᵀ; the inner
 * factors keep training.
 *
 * Steps are optimizer steps, not forward calls as in the official layer
 * (whose counter also advances on evaluation passes and on each micro-batch
 * of gradient accumulation); with one forward per step, as in the reference
 * trajectory, both launch at the same point.
 */
export function createDashVariant<I>(inner: Variant<I>, name: AdapterMethod): Variant<DashState<I>> {
  const settled = (s: DashState<I>, ctx: ModuleContext): number => inner.settledAfter?.(s.inner, ctx) ?? 0;
  /** The reference term: the inner variant's term plus ((x·V_s) ⊙ d)·U_sᵀ, with autodiff ops. */
  const dashVariantForward = (x: tf.Tensor2D, s: DashState<I>, ctx: ModuleContext): tf.Tensor2D | null => {
    const base = inner.forward(x, s.inner, ctx);
    const launch = s.launch;
    if (launch === null) return base;
    return tf.tidy(() => {
      const { V, d, Ut } = launch.tensors;
      const dash = tf.matMul(tf.mul(tf.matMul(x, V), d), Ut) as tf.Tensor2D;
      return base === null ? dash : (tf.add(base, dash) as tf.Tensor2D);
    });
  };
  return {
    name,
    init: (ctx) => ({ inner: inner.init(ctx), launch: null }),
    output: (x, s, ctx) => {
      const branch = inner.loraBranch?.(s.inner);
      // One fused op with the LoRA factors when the inner variant is a plain branch (all of ours are)
      // and folding pays for this many rows.
      const rank = (branch?.A.shape[0] ?? 0) + (s.launch?.tensors.d.shape[0] ?? 0);
      // A reduced W is never folded into (that would expand it to fp32): it takes the low-rank products.
      if (branch !== undefined && ctx.frozen.foldable && foldPays(x.shape[0], ctx.frozen.inFeatures, ctx.frozen.outFeatures, rank)) {
        return adaptedLinear(x, ctx.frozen.tensors(), branch, s.launch?.tensors ?? null);
      }
      const term = dashVariantForward(x, s, ctx);
      const y = ctx.frozen.project(x);
      return term === null ? y : (tf.add(y, term) as tf.Tensor2D);
    },
    forward: (x, s, ctx) => dashVariantForward(x, s, ctx),
    settledAfter: (s, ctx) => settled(s, ctx),
    afterStep: (completedSteps, s, ctx) => {
      const next: DashState<I> = { inner: inner.afterStep?.(completedSteps, s.inner, ctx) ?? s.inner, launch: s.launch };
      if (next.launch !== null || completedSteps < settled(next, ctx) + ctx.config.t) return next;
      return { ...next, launch: launchDash(inner, next.inner, ctx) };
    },
    hostReadsAfterStep: (completedSteps, s, ctx) => {
      const reads = inner.hostReadsAfterStep?.(completedSteps, s.inner, ctx) ?? [];
      if (s.launch !== null || completedSteps < settled(s, ctx) + ctx.config.t) return reads;
      // The launch reads W (for its SVD) and the inner factors (for ΔW).
      const branch = inner.loraBranch?.(s.inner);
      return [...reads, ...ctx.originalTensors(), ...(branch === undefined ? [] : [branch.A, branch.B])];
    },
    parts: (s, ctx) => {
      const parts = inner.parts(s.inner, ctx);
      if (s.launch === null) return parts;
      return { ...parts, dash: { ...s.launch.basis, d: Float32Array.from(s.launch.tensors.d.dataSync()) } };
    },
    setFactors: (factors, s, ctx) => ({ ...s, inner: inner.setFactors(factors, s.inner, ctx) }),
    saveState: (s, ctx) => {
      // A dash term has no record without the inner state's (its factors are where ΔW lives).
      const innerRecord = inner.saveState?.(s.inner, ctx) ?? loraFactorsRecord(toPlainLora({ ...inner.parts(s.inner, ctx), name: ctx.name }));
      if (s.launch === null) return combineRecords(innerRecord, dashRecord({ launched: false }));
      const { basis, tensors, selected, rates, sigma } = s.launch;
      const d = Float32Array.from(tensors.d.dataSync());
      return combineRecords(
        innerRecord,
        dashRecord({
          launched: true,
          U: basis.U,
          Vt: basis.Vt,
          d,
          selected: [...selected],
          ...(rates === undefined ? {} : { changeRates: rates }),
          ...(sigma === undefined ? {} : { sigma }),
        }),
      );
    },
    loadState: (record: StateRecord, s, ctx) => {
      // The dash part is checked before anything changes; the inner variant reads its own parts and ignores it.
      const dash = readDashState(record, { module: ctx.name }, { rows: ctx.frozen.outFeatures, cols: ctx.frozen.inFeatures });
      const innerState = inner.loadState === undefined ? inner.setFactors(readLoraFactors(record, { module: ctx.name }), s.inner, ctx) : inner.loadState(record, s.inner, ctx);
      disposeLaunch(s.launch);
      if (dash === undefined || !dash.launched) {
        ctx.removeVariable(DASH_D_KEY);
        return { inner: innerState, launch: null };
      }
      const { U, Vt, d, selected, changeRates: rates, sigma } = dash;
      const launch = makeLaunch(ctx, { U, Vt }, Int32Array.from(selected), { rates, sigma });
      tf.tidy(() => launch.tensors.d.assign(tf.tensor1d(d, 'float32')));
      return { inner: innerState, launch };
    },
    ...(inner.applyEstimate ? { applyEstimate: (estimate: Matrix, s: DashState<I>, ctx: ModuleContext) => ({ ...s, inner: inner.applyEstimate?.(estimate, s.inner, ctx) ?? s.inner }) } : {}),
    tsdInfo: (s, ctx) => {
      const info = inner.tsdInfo?.(s.inner, ctx) ?? {};
      const launch = s.launch;
      if (launch === null) return info;
      return {
        ...info,
        dashSelected: launch.selected,
        // The launch comes t steps after the inner variant settles (LoRA-TSD: after LoRA-Init's re-init).
        selectedAtStep: settled(s, ctx) + ctx.config.t,
        ...(launch.rates === undefined ? {} : { dashRates: launch.rates }),
        ...(launch.sigma === undefined ? {} : { sigma: launch.sigma }),
      };
    },
    dispose: (s, ctx) => {
      disposeLaunch(s.launch);
      inner.dispose?.(s.inner, ctx);
    },
  };
}

/** The launch itself; see {@link createDashVariant}. Reuses d if it already exists (re-launch after restore). */
function launchDash<I>(inner: Variant<I>, innerState: I, ctx: ModuleContext): DashLaunch {
  const W = ctx.original();
  const svd = ctx.svd(W, ctx.name);
  // ΔW relative to the original W as one plain LoRA (for LoRA-TSD this
  // subtracts the LoRA-Init starting point), never formed densely.
  const delta = toPlainLora({ ...inner.parts(innerState, ctx), name: ctx.name });
  const rates = changeRates(svd, delta, ctx.name);
  const selected = selectTaskSpecificDirections(rates, ctx.config.s, `${ctx.name}.change_rate`);
  return makeLaunch(ctx, dashBasis(svd, selected, ctx.name), selected, { rates: rates.rates, sigma: rates.sigma });
}

function makeLaunch(ctx: ModuleContext, basis: DashBasis, selected: Int32Array, spectra: { rates?: Float64Array | undefined; sigma?: Float64Array | undefined }): DashLaunch {
  const s = basis.U.cols;
  const frozen = tf.tidy(() => {
    const U = tf.tensor2d(basis.U.data, [basis.U.rows, s], 'float32');
    const Vt = tf.tensor2d(basis.Vt.data, [s, basis.Vt.cols], 'float32');
    // keep(): a launch inside a caller's tidy scope must outlive it; disposeLaunch frees them.
    return { U: tf.keep(U), Vt: tf.keep(Vt), V: tf.keep(tf.transpose(Vt)), Ut: tf.keep(tf.transpose(U)) };
  });
  const existing = ctx.variable(DASH_D_KEY);
  let d: tf.Variable;
  if (existing !== undefined && existing.shape[0] === s) {
    d = existing;
    tf.tidy(() => d.assign(tf.zeros([s])));
  } else {
    ctx.removeVariable(DASH_D_KEY);
    d = ctx.createVariable(DASH_D_KEY, tf.zeros([s]));
  }
  const { rates, sigma } = spectra;
  return { selected, basis, tensors: { ...frozen, d }, ...(rates === undefined ? {} : { rates }), ...(sigma === undefined ? {} : { sigma }) };
}

function disposeLaunch(launch: DashLaunch | null): void {
  if (launch === null) return;
  const { U, Vt, V, Ut } = launch.tensors;
  tf.dispose([U, Vt, V, Ut]);
}

/** LoRA-Dash on plain LoRA: the paper's method (defaults t = 100, s = 8). */
export const loraDashVariant: Variant<DashState<LoraState>> = { ...createDashVariant(loraVariant, 'lora-dash'), color: '#edc948' };
