import { ConfigError, decodeModuleRecords, EMPTY_RECORD, encodeModuleRecords, NATIVE_FORMAT_VERSION, type ModuleRecord } from '@tsd-peft/core';
import { legacyCheckpointRecords } from './adapter-checkpoint-legacy.js';
import type { AdapterSlot } from './adapter-slot.js';
import type { ModelCheckpointState } from './trainable.js';

/**
 * The adapter model's part of a trainer checkpoint: per module the record
 * its variant keeps (`Variant.saveState`), through core's record encoder —
 * the same tensors (F32 / F64), names and JSON as in a native adapter file.
 * A method without a record (full fine-tuning) contributes only its method
 * name; its variables, which the trainer saves itself, are its whole state.
 *
 * `meta.stateFormat` marks this layout; checkpoints without it were written
 * before (trainer checkpoints up to native format 3) and are read by
 * `adapter-checkpoint-legacy.ts`.
 */

/** Builds the checkpoint state of all slots. */
export function checkpointFromSlots(slots: Iterable<AdapterSlot>): ModelCheckpointState {
  const records = new Map<string, ModuleRecord>();
  for (const slot of slots) records.set(slot.name, slot.hasRecord ? slot.saveRecord() : { method: slot.variant.name, ...EMPTY_RECORD });
  const { tensors, modules } = encodeModuleRecords(records);
  return { tensors: Object.fromEntries(tensors), meta: { stateFormat: NATIVE_FORMAT_VERSION, modules } };
}

/**
 * Restores slots from {@link checkpointFromSlots} output (or an older
 * checkpoint's). Throws {@link ConfigError} naming the module when the
 * checkpoint does not match the model (missing module, other method), and
 * core's typed errors for a malformed record.
 */
export function restoreSlotsFromCheckpoint(slots: ReadonlyMap<string, AdapterSlot>, state: ModelCheckpointState): void {
  const format = state.meta.stateFormat;
  let records: Map<string, ModuleRecord>;
  if (format === undefined) {
    records = legacyCheckpointRecords(slots, state);
  } else {
    if (typeof format !== 'number' || format > NATIVE_FORMAT_VERSION) {
      throw new ConfigError(`checkpoint model state has format ${JSON.stringify(format)}, newer than this reader (${NATIVE_FORMAT_VERSION})`, { field: 'meta.stateFormat' });
    }
    records = decodeModuleRecords(state.meta.modules, new Map(Object.entries(state.tensors)), 'meta.modules');
  }
  for (const [name, slot] of slots) {
    const record = records.get(name);
    if (record === undefined) throw new ConfigError('checkpoint has no state for this module', { tensor: name });
    if (record.method !== slot.variant.name) {
      throw new ConfigError(`checkpoint was made with method '${record.method}', the model uses '${slot.variant.name}'`, { tensor: name });
    }
    if (slot.hasRecord) slot.loadRecord(record);
  }
}
