import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@tsd-peft/core';
import type { LinearProvider } from '@tsd-peft/tfjs';

/**
 * The tensors a gradient may be asked for under `modulePrefix` (adapter
 * variables, trained weights, gradient probes), from a provider that lists
 * them; a ConfigError otherwise, since a checkpointed layer routes gradients
 * only to the tensors it is given.
 */
export function gradientTensorsOf(linear: LinearProvider, modulePrefix: string): tf.Tensor[] {
  if (linear.gradientTensors === undefined) {
    throw new ConfigError('gradient checkpointing needs a LinearProvider that lists its trainable tensors (gradientTensors); AdapterModel does', { field: 'gradientCheckpointing' });
  }
  return linear.gradientTensors(modulePrefix);
}

/**
 * `layer(x, ...constants)` with gradient checkpointing, as transformers'
 * `gradient_checkpointing_enable()` does per decoder layer: the forward runs
 * without recording anything for the backward pass, so none of the layer's
 * intermediate activations stay alive; only `x` and `constants` are kept. In
 * the backward pass the layer runs again under its own gradient tape and the
 * vector-Jacobian product with the incoming gradient goes to `x` and to
 * `trainable` (the variables the layer reads through closures, which must be
 * listed: they are the only ones that get a gradient through this op).
 * `constants` (RoPE angles, the attention mask) get none.
 *
 * `layer` must be a pure function of its arguments and of tensors that
 * outlive the step (weights, variables); it runs twice per training step.
 */
export function checkpointed(layer: (x: tf.Tensor, ...constants: tf.Tensor[]) => tf.Tensor, x: tf.Tensor, constants: tf.Tensor[], trainable: tf.Tensor[]): tf.Tensor {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const input = args[0] as tf.Tensor;
    const vars = args.slice(1, -1) as tf.Tensor[];
    // keep the layer's inputs, not its activations: they may be intermediates of the caller's tidy scope
    save([input, ...constants]);
    return {
      value: layer(input, ...constants),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, ...cs] = saved as [tf.Tensor, ...tf.Tensor[]];
        const wrt = [xs, ...vars];
        const grads = recomputedGradients(() => layer(xs, ...cs), wrt, dy as tf.Tensor);
        return grads.map((g, i) => g ?? tf.zerosLike(wrt[i] as tf.Tensor));
      },
    };
  });
  return op(x, ...trainable) as tf.Tensor;
}

interface EngineTape {
  state: { activeTape: unknown };
  gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean): { value: tf.Tensor; grads: (tf.Tensor | undefined)[] };
}

/**
 * ∂⟨f(), dy⟩/∂xs, computed from inside a gradient function. The engine keeps
 * one active tape: a nested `gradients` call made during the outer backward
 * pass replaces it and, on finishing, clears it, after which the outer call
 * fails disposing it. So the outer tape is put back afterwards.
 */
function recomputedGradients(f: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): (tf.Tensor | undefined)[] {
  const engine = tf.engine() as unknown as EngineTape;
  const outerTape = engine.state.activeTape;
  try {
    const { value, grads } = engine.gradients(f, xs, dy, true);
    value.dispose();
    return grads;
  } finally {
    engine.state.activeTape = outerTape;
  }
}

/**
 * The on/off switch of gradient checkpointing that every replica carries,
 * named as in transformers (`gradient_checkpointing_enable()`,
 * `is_gradient_checkpointing`); replicas extend it and pass each decoder
 * layer through {@link checkpointed} while it is on.
 */
export class GradientCheckpointingSwitch {
  private checkpointing = false;

  /** Recompute each decoder layer's forward in the backward pass (HF `gradient_checkpointing_enable()`). */
  gradientCheckpointingEnable(): void {
    this.checkpointing = true;
  }

  /** Back to keeping every activation for the backward pass (the default). */
  gradientCheckpointingDisable(): void {
    this.checkpointing = false;
  }

  /** True after {@link gradientCheckpointingEnable} (HF `is_gradient_checkpointing`). */
  get isGradientCheckpointing(): boolean {
    return this.checkpointing;
  }
}
