import { describe, expect, test } from 'vitest';
import { ConfigError, SafetensorsError, ShapeError } from './errors.js';
import {
  combineRecords,
  decodeModuleRecords,
  encodeModuleRecords,
  matrixTensor,
  recordMatrix,
  recordVector,
  stateFromSafetensors,
  stateToSafetensors,
  vectorTensor,
  type ModuleRecord,
  type StateRecord,
} from './module-record.js';

const at = { module: 'model.layers.0.mlp.up_proj', file: 'a.safetensors' };
const key = (name: string) => `base_model.model.${at.module}.${name}`;
const record: StateRecord = {
  tensors: {
    W: matrixTensor({ rows: 2, cols: 3, data: Float32Array.from([1, 2, 3, 4, 5, 6]) }),
    rates: vectorTensor(Float64Array.from([0.5, Number.POSITIVE_INFINITY])),
  },
  meta: { steps: 3 },
};
const thrown = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e as Error & { tensor?: string; field?: string; file?: string };
  }
  throw new Error('expected a failure');
};

describe('module records', () => {
  test('parts combine; a name used twice is refused', () => {
    const both = combineRecords(record, { tensors: { d: vectorTensor(new Float32Array(2)) }, meta: { launched: true } });
    expect(Object.keys(both.tensors)).toEqual(['W', 'rates', 'd']);
    expect(both.meta).toEqual({ steps: 3, launched: true });
    expect(() => combineRecords(record, { tensors: { W: vectorTensor(new Float32Array(1)) }, meta: {} })).toThrow(ConfigError);
    expect(() => combineRecords(record, { tensors: {}, meta: { steps: 4 } })).toThrow(/meta field 'steps'/);
  });

  test('typed reads check dtype and shape and name the tensor', () => {
    expect(recordMatrix(record, 'W', at, { rows: 2, cols: 3 })?.data).toEqual(Float32Array.from([1, 2, 3, 4, 5, 6]));
    expect(recordVector(record, 'rates', at, Float64Array, 2)?.[1]).toBe(Number.POSITIVE_INFINITY);
    expect(recordVector(record, 'absent', at, Float32Array, undefined, false)).toBeUndefined();
    const missing = thrown(() => recordVector(record, 'absent', at, Float32Array));
    expect(missing).toBeInstanceOf(SafetensorsError);
    expect(missing.tensor).toBe(key('absent'));
    expect(missing.file).toBe('a.safetensors');
    expect(thrown(() => recordVector(record, 'rates', at, Float32Array)).message).toMatch(/stored as F32, found F64/);
    expect(thrown(() => recordVector(record, 'rates', at, Float64Array, 3))).toBeInstanceOf(ShapeError);
    const shape = thrown(() => recordMatrix(record, 'W', at, { rows: 3 }));
    expect(shape).toBeInstanceOf(ShapeError);
    expect(shape.tensor).toBe(key('W'));
    const unfilled: StateRecord = { tensors: { W: { shape: [2, 2], data: new Float32Array(3) } }, meta: {} };
    expect(thrown(() => recordMatrix(unfilled, 'W', at))).toBeInstanceOf(ShapeError);
  });

  test('encoded and decoded, F64 stays F64 through safetensors entries; strays and missing tensors are refused', () => {
    const records = new Map<string, ModuleRecord>([[at.module, { method: 'm', ...record }]]);
    const { tensors, modules } = encodeModuleRecords(records);
    expect([...tensors.keys()]).toEqual([key('W'), key('rates')]);
    const viaBytes = new Map([...tensors].map(([k, t]) => [k, stateFromSafetensors(stateToSafetensors(t, k), k)]));
    expect(stateToSafetensors(tensors.get(key('rates')) as never, 'r').dtype).toBe('F64');
    expect(decodeModuleRecords(JSON.parse(JSON.stringify(modules)), viaBytes, 'modules')).toEqual(records);
    const stray = new Map([...viaBytes, ['extra', vectorTensor(new Float32Array(1))]]);
    expect(thrown(() => decodeModuleRecords(modules, stray, 'modules', 'f')).tensor).toBe('extra');
    viaBytes.delete(key('W'));
    expect(thrown(() => decodeModuleRecords(modules, viaBytes, 'modules')).tensor).toBe(key('W'));
    expect(thrown(() => decodeModuleRecords({ [at.module]: 7 }, new Map(), 'modules')).field).toBe(`modules.${at.module}`);
  });
});
