import * as tf from '@tensorflow/tfjs-core';
import { initializers, layers, type LayerVariable, type Shape } from '@tensorflow/tfjs-layers';
import { changeRates, dashBasis, defaultSvdCache, mergeLora, selectTaskSpecificDirections, toPlainLora, type DashTerm, type LoraFactors, type Matrix } from '@tsd-peft/core';
import type { BuiltinAdapterMethod } from '../variants/registry.js';
import { LaunchCallbackMissingError } from './errors.js';
import { readTransposed, writeTransposed } from './keras-layout.js';

/**
 * The methods `applyAdapters` fits into a Dense layer: the low-rank built-in
 * methods (not full fine-tuning, not DoRA, whose magnitude this layer lacks).
 */
export type LayerAdapterMethod = Exclude<BuiltinAdapterMethod, 'full' | 'dora'>;

/** {@link LayerAdapterMethod} as a list, to check options at run time. */
export const LAYER_ADAPTER_METHODS: readonly LayerAdapterMethod[] = ['lora', 'rslora', 'pissa', 'milora', 'lora-dash', 'lora-init', 'lora-tsd'];

/** Methods whose initialiser moves scaling·B₀A₀ out of the kernel (the kernel holds the residual). */
const RESIDUAL_METHODS: ReadonlySet<LayerAdapterMethod> = new Set(['pissa', 'milora', 'lora-init', 'lora-tsd']);
/** Methods that launch a LoRA-Dash term after `t` optimizer steps. */
const DASH_METHODS: ReadonlySet<LayerAdapterMethod> = new Set(['lora-dash', 'lora-tsd']);

/** True when `method` keeps a residual kernel and its initial factors. */
export function hasResidual(method: LayerAdapterMethod): boolean {
  return RESIDUAL_METHODS.has(method);
}

/** True when `method` launches a LoRA-Dash term and so needs the step callback. */
export function hasDash(method: LayerAdapterMethod): boolean {
  return DASH_METHODS.has(method);
}

/**
 * The adapter half of an {@link AdapterDense} config: what the layer is and
 * how far it got. Plain JSON, so `model.save()` stores it in model.json and
 * `tf.loadLayersModel()` restores it (every key and string survives tfjs's
 * camelCase ↔ snake_case conversion unchanged).
 */
export interface AdapterLayerState {
  method: LayerAdapterMethod;
  r: number;
  /** lora_alpha, kept for the PEFT export. */
  alpha: number;
  useRslora: boolean;
  /** alpha / r (alpha / √r with rsLoRA): multiplies the LoRA branch. */
  scaling: number;
  /** LoRA-Dash: number of task-specific directions (0 for methods without dash). */
  s: number;
  /** LoRA-Dash: optimizer steps before launch. */
  t: number;
  /** Optimizer steps counted so far by the step callback, across every `fit`. */
  steps: number;
  /** Whether the dash term is live. */
  launched: boolean;
  /** Launched directions, indices into W's descending singular values, by descending change rate. */
  dashSelected: number[];
  /** Change rates δᵢ = |uᵢᵀ ΔW vᵢ| / σᵢ of every direction at launch. */
  dashRates: number[];
  /** PiSSA / MiLoRA / LoRA-Init / LoRA-TSD: the directions A₀/B₀ were built from. */
  initSelected: number[];
}

/** Constructor arguments (and config) of {@link AdapterDense}. */
export interface AdapterDenseArgs {
  name?: string;
  trainable?: boolean;
  batchInputShape?: (number | null)[];
  dtype?: tf.DataType;
  /** The wrapped Dense layer's own config (ts-side), restored as is by `mergeAndUnload`. */
  base: tf.serialization.ConfigDict;
  adapter: AdapterLayerState;
}

/** The adapter as core's LoRA pieces, in core's [out, in] layout. */
export interface AdapterDenseParts {
  /** The frozen kernel as [out, in]: W, or the residual W′ for residual methods. */
  readonly frozen: Matrix<Float32Array>;
  /** The trainable factors, A [r, in], B [out, r]. */
  readonly factors: LoraFactors;
  /** The initial factors subtracted from W (residual methods). */
  readonly init?: LoraFactors;
  /** The launched dash term. */
  readonly dash?: DashTerm;
}

/**
 * A Dense layer with a LoRA-family adapter, as `applyAdapters` puts it in
 * place of the original: y = act(x·K + scaling·(x·A)·B + ((x·V_s) ⊙ d)·U_sᵀ + b),
 * Keras layout (A [in, r], B [r, out], V_s [in, s], U_sᵀ [s, out]). The
 * kernel K and bias b are frozen; A, B and d train. Registered with
 * `tf.serialization`, so saved models load with `tf.loadLayersModel`.
 */
export class AdapterDense extends layers.Layer {
  /** @nocollapse */
  static className = 'TsdAdapterDense';

  readonly base: tf.serialization.ConfigDict;
  private state: AdapterLayerState;
  protected readonly units: number;
  private readonly useBias: boolean;
  private readonly activationLayer: layers.Layer;
  /** Training forwards since construction, to catch a missing step callback. */
  private trainingForwards = 0;
  private vars: Record<string, LayerVariable> = {};

  constructor(args: AdapterDenseArgs) {
    super(args);
    this.base = args.base;
    // model.json is JSON: a +∞ change rate (σᵢ = 0, non-zero projection) comes back as null.
    this.state = { ...args.adapter, dashRates: args.adapter.dashRates.map((v) => v ?? Number.POSITIVE_INFINITY) };
    this.trainingForwards = this.state.steps;
    const { units, useBias, activation } = this.baseSpec(args.base);
    this.units = units;
    this.useBias = useBias;
    this.activationLayer = layers.activation({ activation: activation as 'linear' });
    // Like Dense: a mask from upstream (an Embedding with maskZero) passes through.
    this.supportsMasking = true;
  }

  /** The stock Keras class this layer replaces (and `mergeAndUnload` restores). */
  get baseClassName(): string {
    return 'Dense';
  }

  /** Output width, bias and activation of the wrapped layer, from its config. */
  protected baseSpec(base: tf.serialization.ConfigDict): { units: number; useBias: boolean; activation: string } {
    const units = base['units'];
    if (typeof units !== 'number') throw new TypeError(`AdapterDense ${this.name}: base config lacks units`);
    const activation = base['activation'];
    return { units, useBias: base['useBias'] !== false, activation: typeof activation === 'string' ? activation : 'linear' };
  }

  /** The kernel's input width: the last input dimension. */
  protected inputWidth(shape: Shape): number {
    const inDim = shape[shape.length - 1];
    if (typeof inDim !== 'number') throw new TypeError(`AdapterDense ${this.name}: the last input dimension must be known`);
    return inDim;
  }

  /** The input as rows for {@link project}: [n, in]. */
  protected rows(x: tf.Tensor): tf.Tensor {
    return tf.reshape(x, [-1, x.shape[x.shape.length - 1] as number]);
  }

  /** rows · w for a Keras-layout [in, k] weight: a matMul (an Embedding gathers rows instead). */
  protected project(rows: tf.Tensor, w: tf.Tensor): tf.Tensor2D {
    return tf.matMul(rows as tf.Tensor2D, w as tf.Tensor2D);
  }

  /** Output shape for input shape `shape`. */
  protected outputShapeOf(shape: readonly (number | null)[]): (number | null)[] {
    return [...shape.slice(0, -1), this.units];
  }

  /** A copy of the adapter state (method, ranks, step count, selections). */
  get adapter(): AdapterLayerState {
    return { ...this.state, dashSelected: [...this.state.dashSelected], dashRates: [...this.state.dashRates], initSelected: [...this.state.initSelected] };
  }

  override build(inputShape: Shape | Shape[]): void {
    const inDim = this.inputWidth(lastShape(inputShape));
    const { r, s, method } = this.state;
    const zeros = initializers.zeros();
    const add = (name: string, dims: number[], trainable: boolean) => {
      this.vars[name] = this.addWeight(name, dims, 'float32', zeros, undefined, trainable);
    };
    add('kernel', [inDim, this.units], false);
    if (this.useBias) add('bias', [this.units], false);
    add('lora_a', [inDim, r], true);
    add('lora_b', [r, this.units], true);
    if (hasResidual(method)) {
      add('init_a', [inDim, r], false);
      add('init_b', [r, this.units], false);
    }
    if (hasDash(method)) {
      add('dash_v', [inDim, s], false);
      add('dash_u', [s, this.units], false);
      add('dash_d', [s], true);
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return this.outputShapeOf(lastShape(inputShape));
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    if (kwargs['training'] === true && hasDash(this.state.method) && !this.state.launched) this.countTrainingForward();
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
      const rows = this.rows(x);
      const p = (name: string) => this.project(rows, this.weight(name));
      let y: tf.Tensor = p('kernel');
      y = tf.add(y, tf.mul(tf.matMul(p('lora_a'), this.weight('lora_b')), this.state.scaling));
      if (hasDash(this.state.method)) {
        const d = this.weight('dash_d');
        // Before launch d still joins the graph with a zero gradient: tf.train optimizers index
        // their slots by position among the variables that got gradients, so that set must not change.
        y = this.state.launched ? tf.add(y, tf.matMul(tf.mul(p('dash_v'), d), this.weight('dash_u'))) : tf.add(y, tf.mul(tf.sum(d), 0));
      }
      if (this.useBias) y = tf.add(y, this.weight('bias'));
      const out = this.activationLayer.apply(y) as tf.Tensor;
      return tf.reshape(out, this.outputShapeOf(x.shape) as number[]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), base: this.base, adapter: { ...this.adapter } as unknown as tf.serialization.ConfigDict };
  }

  /** The layer's variable `name` (one of kernel, bias, lora_a, lora_b, init_a, init_b, dash_v, dash_u, dash_d). */
  variable(name: string): LayerVariable {
    const v = this.vars[name];
    if (v === undefined) throw new TypeError(`AdapterDense ${this.name} has no weight '${name}' (built: ${this.built})`);
    return v;
  }

  /** True when the layer has the variable `name`. */
  hasVariable(name: string): boolean {
    return this.vars[name] !== undefined;
  }

  /**
   * Counts one completed optimizer step and, for LoRA-Dash / LoRA-TSD,
   * launches the dash term once `t` steps are done. Called by the step callback.
   */
  async step(): Promise<void> {
    this.state = { ...this.state, steps: this.state.steps + 1 };
    this.trainingForwards = Math.max(this.trainingForwards, this.state.steps);
    if (hasDash(this.state.method) && !this.state.launched && this.state.steps >= this.state.t) await this.launch();
  }

  /** Sets the values `applyAdapters` computed (Keras layout handled here); see {@link AdapterDenseParts}. */
  setParts(parts: AdapterDenseParts, bias: tf.Tensor | null, initSelected: Int32Array | undefined): void {
    writeTransposed(this.variable('kernel'), parts.frozen);
    if (bias !== null) this.variable('bias').write(bias);
    writeTransposed(this.variable('lora_a'), parts.factors.A);
    writeTransposed(this.variable('lora_b'), parts.factors.B);
    if (parts.init !== undefined) {
      writeTransposed(this.variable('init_a'), parts.init.A);
      writeTransposed(this.variable('init_b'), parts.init.B);
    }
    if (initSelected !== undefined) this.state = { ...this.state, initSelected: [...initSelected] };
  }

  /** The adapter as core matrices in [out, in] layout (reads the weights). */
  async parts(): Promise<AdapterDenseParts> {
    const { scaling, launched } = this.state;
    const frozen = await readTransposed(this.variable('kernel'));
    const factors = await this.factors('lora_a', 'lora_b', scaling);
    const init = hasResidual(this.state.method) ? await this.factors('init_a', 'init_b', scaling) : undefined;
    let dash: DashTerm | undefined;
    if (launched) {
      const U = await readTransposed(this.variable('dash_u'));
      const Vt = await readTransposed(this.variable('dash_v'));
      dash = { U, Vt, d: Float32Array.from(await this.variable('dash_d').read().data()) };
    }
    return { frozen, factors, ...(init === undefined ? {} : { init }), ...(dash === undefined ? {} : { dash }) };
  }

  /** The original pretrained W [out, in]: the kernel, plus scaling·B₀A₀ for residual methods. */
  original(parts: AdapterDenseParts): Matrix<Float32Array> {
    return parts.init === undefined ? parts.frozen : mergeLora(parts.frozen, parts.init, undefined, this.name);
  }

  /**
   * The dash launch (Si et al., arXiv 2409.01035, §4.2) with core's math: the
   * exact SVD of the original W, the change rates under the adapter's ΔW
   * relative to W, the top-s directions as frozen U_s, V_s, and d = 0.
   */
  private async launch(): Promise<void> {
    const parts = await this.parts();
    const W = this.original(parts);
    const svd = defaultSvdCache.get(W, this.name);
    const delta = toPlainLora({ factors: parts.factors, ...(parts.init === undefined ? {} : { init: parts.init }), name: this.name });
    const rates = changeRates(svd, delta, this.name);
    const selected = selectTaskSpecificDirections(rates, this.state.s, `${this.name}.change_rate`);
    const basis = dashBasis(svd, selected, this.name);
    writeTransposed(this.variable('dash_u'), basis.U);
    writeTransposed(this.variable('dash_v'), basis.Vt);
    const d = tf.zeros([this.state.s]);
    this.variable('dash_d').write(d);
    d.dispose();
    this.state = { ...this.state, launched: true, dashSelected: [...selected], dashRates: [...rates.rates] };
  }

  private async factors(aKey: string, bKey: string, scaling: number): Promise<LoraFactors> {
    return { A: await readTransposed(this.variable(aKey)), B: await readTransposed(this.variable(bKey)), scaling };
  }

  private weight(name: string): tf.Tensor {
    return this.variable(name).read();
  }

  private countTrainingForward(): void {
    this.trainingForwards += 1;
    if (this.trainingForwards > this.state.steps + 1) {
      throw new LaunchCallbackMissingError(
        `method '${this.state.method}' launches after t = ${this.state.t} optimizer steps, but a training step ran without the step callback: ` +
          'pass the callback applyAdapters returns (or adapterCallback()) to model.fit, or call stepAdapters(model) after each step of a custom loop',
        { layer: this.name },
      );
    }
  }
}

/** The single input's shape (a Dense layer has one input). */
function lastShape(inputShape: Shape | Shape[]): Shape {
  const first = inputShape[0];
  return (Array.isArray(first) ? first : inputShape) as Shape;
}
