import type * as tf from '@tensorflow/tfjs-core';
import { ConfigError, decodeModuleRecords, EMPTY_RECORD, encodeModuleRecords, isJsonObject, NATIVE_FORMAT_VERSION, type JsonObject, type ModuleRecord, type StateTensor } from '@tsd-peft/core';
import { legacyCheckpointRecords } from './adapter-checkpoint-legacy.js';
import { loadRecordsOrRollBack, type AdapterSlot } from './adapter-slot.js';
import type { ModelCheckpointState } from './trainable.js';

/**
 * The adapter model's part of a trainer checkpoint: per module the record
 * its variant keeps (`Variant.saveState`), through core's record encoder —
 * the same tensors (F32 / F64), names and JSON as in a native adapter file.
 * A record tensor that is one of the module's trainable variables (same
 * name, e.g. `lora_A.weight`, `dash_d`) is not stored twice: the trainer
 * saves the variables itself, and restores them right after this state, so
 * only its shape is kept here (`meta.variableTensors`) and the variant is
 * handed the variable's current value (or zeros) in its place. A method
 * without a record (full fine-tuning) contributes only its method name.
 *
 * `meta.stateFormat` marks this layout; checkpoints without it were written
 * before (up to native format 3) and are read by `adapter-checkpoint-legacy.ts`.
 */

/** Builds the checkpoint state of all slots; `variables` are the model's trainable variables by stable name. */
export function checkpointFromSlots(slots: Iterable<AdapterSlot>, variables: ReadonlyMap<string, tf.Variable>): ModelCheckpointState {
  const records = new Map<string, ModuleRecord>();
  const variableTensors: JsonObject = {};
  for (const slot of slots) {
    const record = slot.hasRecord ? slot.saveRecord() : { method: slot.variant.name, ...EMPTY_RECORD };
    const own: Record<string, StateTensor> = {};
    const shapes: JsonObject = {};
    for (const [name, t] of Object.entries(record.tensors)) {
      if (variables.has(`${slot.name}.${name}`)) shapes[name] = [...t.shape];
      else own[name] = t;
    }
    records.set(slot.name, { ...record, tensors: own });
    if (Object.keys(shapes).length > 0) variableTensors[slot.name] = shapes;
  }
  const { tensors, modules } = encodeModuleRecords(records);
  return { tensors: Object.fromEntries(tensors), meta: { stateFormat: NATIVE_FORMAT_VERSION, modules, variableTensors } };
}

/**
 * Restores slots from {@link checkpointFromSlots} output (or an older
 * checkpoint's), before the trainer restores the variables. Throws
 * {@link ConfigError} naming the module when the checkpoint does not match
 * the model (missing module, other method), and core's typed errors for a
 * malformed record.
 */
export function restoreSlotsFromCheckpoint(slots: ReadonlyMap<string, AdapterSlot>, state: ModelCheckpointState, variables: ReadonlyMap<string, tf.Variable>): void {
  const format = state.meta.stateFormat;
  let records: Map<string, ModuleRecord>;
  if (format === undefined) {
    records = legacyCheckpointRecords(slots, state);
  } else {
    if (typeof format !== 'number' || format > NATIVE_FORMAT_VERSION) {
      throw new ConfigError(`checkpoint model state has format ${JSON.stringify(format)}, newer than this reader (${NATIVE_FORMAT_VERSION})`, { field: 'meta.stateFormat' });
    }
    records = decodeModuleRecords(state.meta.modules, new Map(Object.entries(state.tensors)), 'meta.modules');
    const held = isJsonObject(state.meta.variableTensors) ? state.meta.variableTensors : {};
    for (const [module, shapes] of Object.entries(held)) {
      const record = records.get(module);
      if (record !== undefined && isJsonObject(shapes)) records.set(module, withVariableTensors(record, module, shapes, variables));
    }
  }
  for (const [name, slot] of slots) {
    const record = records.get(name);
    if (record === undefined) throw new ConfigError('checkpoint has no state for this module', { tensor: name });
    if (record.method !== slot.variant.name) {
      throw new ConfigError(`checkpoint was made with method '${record.method}', the model uses '${slot.variant.name}'`, { tensor: name });
    }
  }
  loadRecordsOrRollBack(slots, records);
}

/** The record with its variable tensors back: the variable's current value where it has the stored shape, else zeros. */
function withVariableTensors(record: ModuleRecord, module: string, shapes: JsonObject, variables: ReadonlyMap<string, tf.Variable>): ModuleRecord {
  const tensors: Record<string, StateTensor> = { ...record.tensors };
  for (const [name, value] of Object.entries(shapes)) {
    if (!Array.isArray(value) || !value.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw new ConfigError('checkpoint variable tensor shape is not a list of sizes', { field: `meta.variableTensors.${module}.${name}` });
    }
    const shape = value as number[];
    const v = variables.get(`${module}.${name}`);
    const same = v !== undefined && v.shape.length === shape.length && v.shape.every((d, i) => d === shape[i]);
    tensors[name] = { shape, data: same ? Float32Array.from(v.dataSync()) : new Float32Array(shape.reduce((a, b) => a * b, 1)) };
  }
  return { ...record, tensors };
}
