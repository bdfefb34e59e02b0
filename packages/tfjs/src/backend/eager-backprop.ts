import * as tf from '@tensorflow/tfjs-core';

/**
 * Frees each tape node's backward state as soon as the backward pass is done
 * with it, instead of at the end of the whole pass.
 *
 * tfjs 4.22's `engine.gradients` runs the backward pass in one `tidy`: the
 * tensors each node saved for its gradient, and the gradient of every
 * intermediate tensor, all stay allocated until the last node is done. The
 * peak of a step is therefore (saved activations + the gradient of every
 * activation), about twice what the backward pass ever needs at once: at
 * SmolLM2-135M shapes (batch 4 × 256) ~225 MiB per decoder layer, which is
 * why 30 layers could not train in the 4 GiB wasm heap without gradient
 * checkpointing (and its extra forward).
 *
 * Here every tape node's gradient function is wrapped: when the backward pass
 * moves on to the next node, the previous node's saved tensors are disposed,
 * and so are the gradients of its outputs (each output's gradient is complete
 * once its producer has run, and nothing reads it again), unless the caller
 * asked for that tensor's gradient, supplied it as the seed `dy`, or the node
 * passed it through unchanged as an input's gradient. Values are unchanged:
 * the same kernels run in the same order; only disposal moves earlier. Only
 * first-order gradients free eagerly (while the backward pass itself is being
 * recorded, for gradients of gradients, tfjs's own rule stands). Nested
 * `gradients` calls made from a gradient function (gradient checkpointing)
 * get their own bookkeeping.
 *
 * Also, `Reshape`, `Sum` and `Mean` save their input only for its shape: they
 * keep a shape record instead of the tensor, so that e.g. the logits
 * reshaped for the loss (192 MiB at SmolLM2 shapes) are freed once the loss
 * has its softmax rather than at the end of the backward pass.
 */

/** Kernels whose gradient reads nothing of the saved input but its shape (tfjs-core 4.22 `gradients/*_grad.js`). */
const SHAPE_ONLY_SAVES = new Set(['Reshape', 'Sum', 'Mean']);

/** What a shape-only gradient reads of its saved input; `dispose` is a no-op for the engine's final sweep. */
function shapeRecord(t: tf.Tensor): Pick<tf.Tensor, 'shape' | 'rank' | 'size' | 'dtype' | 'dispose'> {
  return { shape: [...t.shape], rank: t.rank, size: t.size, dtype: t.dtype, dispose: () => undefined };
}

interface TapeNode {
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  addTapeNode(...args: unknown[]): void;
  gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean): { value: tf.Tensor; grads: tf.Tensor[] };
}

/** One `gradients` call's bookkeeping. */
interface BackwardScope {
  /** Tensor ids whose gradients the caller gets back. */
  requested: Set<number>;
  /** The caller's seed gradient (never ours to free). */
  seed: tf.Tensor | undefined;
  /**
   * How many gradient slots each tensor some gradient function returned
   * fills: a pass-through gradient (dx = dy) or one tensor returned for two
   * inputs makes one tensor the gradient of several tensors.
   */
  slots: Map<tf.Tensor, number>;
  /** The node whose gradient ran last, with the dys it got and the dxs it returned; released when the next one starts. */
  pending: { node: TapeNode; dys: (tf.Tensor | null)[]; returned: Set<tf.Tensor> } | null;
}

const scopes: BackwardScope[] = [];
let installed = false;
let enabled = true;

/** Frees what the pending node no longer needs: its saved tensors, and its outputs' gradients that fill no other slot. */
function release(scope: BackwardScope): void {
  const done = scope.pending;
  scope.pending = null;
  if (done === null) return;
  for (const t of done.node.saved ?? []) t.dispose();
  done.node.saved = [];
  const seen = new Set<tf.Tensor>();
  done.dys.forEach((dy, i) => {
    const output = done.node.outputs[i];
    if (dy === null || seen.has(dy) || dy === scope.seed || (output !== undefined && scope.requested.has(output.id))) return;
    seen.add(dy);
    const slots = scope.slots.get(dy) ?? 0;
    if (slots > 1 || done.returned.has(dy)) {
      // still the gradient of another tensor: one slot fewer
      if (slots > 0) scope.slots.set(dy, slots - 1);
      return;
    }
    scope.slots.delete(dy);
    dy.dispose();
  });
}

function wrapNode(engine: EngineInternals, node: TapeNode): void {
  const gradient = node.gradient;
  if (gradient === undefined) return;
  node.gradient = (dys) => {
    const scope = scopes.at(-1);
    // while the backward pass is itself recorded (higher-order gradients), tfjs's own rule stands
    if (scope === undefined || !enabled || engine.state.gradientDepth !== 0) return gradient(dys);
    release(scope);
    const closures = gradient(dys);
    const returned = new Set<tf.Tensor>();
    const wrapped: Record<string, () => tf.Tensor> = {};
    for (const [name, closure] of Object.entries(closures)) {
      wrapped[name] = () => {
        const dx = closure();
        returned.add(dx);
        scope.slots.set(dx, (scope.slots.get(dx) ?? 0) + 1);
        return dx;
      };
    }
    scope.pending = { node, dys, returned };
    return wrapped;
  };
}

/**
 * Installs the eager release on TF.js's engine (once; idempotent). Called by
 * `setupBackend`; it applies to every backend, since it changes only when
 * tensors are disposed.
 */
export function installEagerBackprop(): void {
  if (installed) return;
  installed = true;
  const engine = tf.engine() as unknown as EngineInternals;
  const addTapeNode = engine.addTapeNode.bind(engine);
  engine.addTapeNode = (...args: unknown[]) => {
    const [kernelName, , , , saved] = args as [string, unknown, unknown, unknown, unknown];
    if (enabled && SHAPE_ONLY_SAVES.has(kernelName) && Array.isArray(saved) && saved.length === 1 && saved[0] instanceof tf.Tensor) {
      const input = saved[0] as tf.Tensor;
      saved[0] = shapeRecord(input);
      input.dispose();
    }
    addTapeNode(...args);
    const tape = engine.state.activeTape;
    const node = tape?.[tape.length - 1];
    if (node !== undefined) wrapNode(engine, node);
  };
  const gradients = engine.gradients.bind(engine);
  engine.gradients = (f, xs, dy, allowNoGradients) => {
    scopes.push({ requested: new Set(xs.map((x) => x.id)), seed: dy, slots: new Map(), pending: null });
    try {
      return gradients(f, xs, dy, allowNoGradients);
    } finally {
      // the last node's tensors go with tfjs's own tidy at the end of the pass
      scopes.pop();
    }
  };
}

/** Turns the eager release off (`false`: tfjs's own end-of-pass disposal) or on again; for A/B benches. */
export function setEagerBackpropEnabled(on: boolean): void {
  enabled = on;
}
