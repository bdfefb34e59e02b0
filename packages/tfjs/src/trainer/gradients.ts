import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@tsd-peft/core';

/** Gradients of one optimizer step and the losses of its micro-batches. */
export interface StepGradients {
  /** ∂(mean micro-batch loss)/∂v for every variable the loss depends on, by stable name. */
  grads: Map<string, tf.Tensor>;
  /** The unscaled loss of each micro-batch (scalars the caller must dispose). */
  losses: tf.Scalar[];
}

/**
 * Gradients of the mean of `microBatches` losses with respect to `variables`
 * (gradient accumulation): each micro-batch loss is divided by k before its
 * backward pass and the gradients are summed, as PyTorch / Hugging Face do
 * (`loss / gradient_accumulation_steps`; `.grad` accumulates). With
 * equal-sized micro-batches of a mean loss this equals one big batch.
 *
 * `lossOf(i)` builds micro-batch i's loss; it runs inside the gradient tape's
 * tidy scope, so tensors it creates (the batch too) are released afterwards.
 * Variables the loss does not reach get no entry (PyTorch's `grad is None`).
 */
export function accumulateGradients(variables: ReadonlyMap<string, tf.Variable>, microBatches: number, lossOf: (microBatch: number) => tf.Scalar): StepGradients {
  if (!Number.isInteger(microBatches) || microBatches < 1) {
    throw new ConfigError(`accumulation steps must be a positive integer, got ${microBatches}`);
  }
  const list: tf.Variable[] = [];
  const nameOf = new Map<string, string>();
  for (const [name, variable] of variables) {
    if (!variable.trainable) {
      throw new ConfigError('trainableVariables() lists a variable created with trainable=false', { tensor: name });
    }
    list.push(variable);
    nameOf.set(variable.name, name);
  }
  if (list.length === 0) throw new ConfigError('the model lists no trainable variables');

  const grads = new Map<string, tf.Tensor>();
  const losses: tf.Scalar[] = [];
  try {
    for (let i = 0; i < microBatches; i++) {
      let raw: tf.Scalar | undefined;
      const result = tf.variableGrads(() => {
        const loss = lossOf(i);
        if (loss.rank !== 0) throw new ConfigError(`lossFn must return a scalar, got rank ${loss.rank}`, { tensor: 'loss', shape: loss.shape });
        if (microBatches === 1) return loss;
        raw = tf.keep(loss); // outlives the tape's scope so the unscaled value can be recorded
        return tf.div(loss, microBatches);
      }, list);
      losses.push(raw ?? result.value);
      if (raw !== undefined) result.value.dispose();
      for (const [tfName, g] of Object.entries(result.grads)) {
        const name = nameOf.get(tfName);
        if (g === null || name === undefined) continue;
        const previous = grads.get(name);
        if (previous === undefined) {
          grads.set(name, g);
        } else {
          grads.set(name, tf.add(previous, g));
          tf.dispose([previous, g]);
        }
      }
    }
  } catch (error) {
    tf.dispose([...grads.values(), ...losses]);
    throw error;
  }
  return { grads, losses };
}
