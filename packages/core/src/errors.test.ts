import { describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from './errors.js';
import { parseAdapterConfig } from './peft-config.js';

describe('ErrorLocation', () => {
  it('names a config field as a field, a tensor as a tensor', () => {
    const config = new ConfigError('r must be a positive integer, got 0', { file: 'adapter_config.json', field: 'r' });
    expect(config.message).toBe('r must be a positive integer, got 0 (file adapter_config.json, field r)');
    expect(config.field).toBe('r');
    expect(config.tensor).toBeUndefined();
    const shape = new ShapeError('bad rank', { tensor: 'lora_A', shape: [2, 3] });
    expect(shape.message).toBe('bad rank (tensor lora_A, shape [2, 3])');
    expect(shape.field).toBeUndefined();
  });

  it('names a LayersModel layer as a layer', () => {
    const error = new ShapeError('rank r = 9 exceeds min(in, out) = 4 of the kernel', { layer: 'dense_1', shape: [4, 8] });
    expect(error.message).toBe('rank r = 9 exceeds min(in, out) = 4 of the kernel (layer dense_1, shape [4, 8])');
    expect(error.layer).toBe('dense_1');
    expect(error.tensor).toBeUndefined();
  });

  it('a PEFT config error points at its field, not at a tensor', () => {
    const bad = JSON.stringify({ peft_type: 'IA3', r: 8, lora_alpha: 8, target_modules: ['q_proj'] });
    expect(() => parseAdapterConfig(bad, 'a/adapter_config.json')).toThrow(/\(file a\/adapter_config\.json, field peft_type\)$/);
  });
});
