import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { mergeLora } from '@tsd-peft/core';
import { transposed32 } from './keras-layout.js';
import { copyLayerWeights, rebuildModel } from './model-topology.js';
import { ADAPTER_LAYER_CLASSES, registerAdapterLayers } from './register.js';
import { adapterLayers } from './step-callback.js';

/**
 * A plain LayersModel with every adapter folded into its kernel: each
 * adapter layer becomes the stock layer it wrapped (`Dense` or `Embedding`,
 * with its original config) with kernel W′ + scaling·B·A + U_s diag(d) V_sᵀ, merged by core's
 * `mergeLora` in float64 and rounded once. The result has no adapter
 * overhead, saves and loads without this package, and computes the same
 * outputs up to float32 rounding. `model` is left as it is.
 */
export async function mergeAndUnload(model: LayersModel): Promise<LayersModel> {
  registerAdapterLayers();
  const kernels = new Map<string, { kernel: Float32Array; shape: [number, number]; bias: tf.Tensor | null }>();
  for (const layer of adapterLayers(model)) {
    const parts = await layer.parts();
    const merged = transposed32(mergeLora(parts.frozen, parts.factors, parts.dash, layer.name));
    const bias = layer.hasVariable('bias') ? layer.variable('bias').read() : null;
    kernels.set(layer.name, { kernel: merged.data, shape: [merged.rows, merged.cols], bias });
  }
  const plain = await rebuildModel(model, (entry) => {
    const stock = ADAPTER_LAYER_CLASSES[entry.class_name];
    if (stock === undefined) return null;
    return { ...entry, class_name: stock, config: entry.config['base'] as tf.serialization.ConfigDict };
  });
  try {
    copyLayerWeights(model, plain, new Set(kernels.keys()));
    for (const [name, { kernel, shape, bias }] of kernels) {
      const k = tf.tensor2d(kernel, shape, 'float32');
      plain.getLayer(name).setWeights(bias === null ? [k] : [k, bias]);
      k.dispose();
    }
  } catch (err) {
    plain.dispose();
    throw err;
  }
  return plain;
}
