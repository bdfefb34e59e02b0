/**
 * PEFT's `adapter_config.json` for LoRA (peft `tuners/lora/config.py`,
 * `LoraConfig`): typed access to the fields that change what the adapter
 * computes, refusal of features tsd-peft does not implement, and a writer
 * that reproduces PEFT's `json.dumps(indent=2, sort_keys=True)` byte for byte.
 */
import { ConfigError } from './errors.js';
import { loraScalingFor } from './lora-factors.js';
import { dumpsPythonJson, parseJsonDocument, type JsonDocument, type JsonObject, type JsonValue } from './python-json.js';

/** PEFT's `bias` option; only `'none'` is supported (the others store trained biases). */
export type LoraBias = 'none' | 'all' | 'lora_only';

/**
 * The fields of a PEFT LoRA `adapter_config.json`. Fields tsd-peft does not
 * interpret live in `extra` and are written back unchanged.
 */
export interface LoraAdapterConfig {
  peft_type: 'LORA';
  /** Default rank. */
  r: number;
  /** Default alpha; scaling = alpha / r (alpha / √r with rsLoRA). */
  lora_alpha: number;
  /** Module names (exact or `.`-suffix match), a regex (full match), or null. */
  target_modules: string[] | string | null;
  /** Modules never targeted, same matching as `target_modules`. */
  exclude_modules: string[] | string | null;
  /** Only these layer indices are targeted (null: all). */
  layers_to_transform: number[] | number | null;
  /** Name(s) of the layer list that `layers_to_transform` indexes. */
  layers_pattern: string[] | string | null;
  /** Rank-stabilised LoRA (Kalajdzievski 2023): scaling alpha / √r. */
  use_rslora: boolean;
  lora_dropout: number;
  bias: LoraBias;
  task_type: string | null;
  base_model_name_or_path: string | null;
  /**
   * True when the base stores weights as [in, out] (GPT-2's Conv1D). Only the
   * base weight's orientation differs: lora_A is still [r, in] and lora_B
   * [out, r], so such adapters load and merge like any other.
   */
  fan_in_fan_out: boolean;
  /** true/false, or an initialiser name such as `'gaussian'`. */
  init_lora_weights: boolean | string;
  /** Per-module rank overrides: key is a module-name regex suffix (`get_pattern_key`). */
  rank_pattern: Record<string, number>;
  /** Per-module alpha overrides, matched like `rank_pattern`. */
  alpha_pattern: Record<string, number>;
  /** Modules saved in full besides the adapter; refused unless empty. */
  modules_to_save: string[] | null;
  /** DoRA (Liu et al. 2024): the adapter also holds a `lora_magnitude_vector` per module. */
  use_dora: boolean;
  inference_mode: boolean;
  /** Every other field of the file, kept verbatim for the round trip. */
  extra: Record<string, JsonValue>;
  /**
   * JSON pointers of integral numbers the source wrote as floats (`1.0`),
   * so that {@link serializeAdapterConfig} writes them back the same way.
   */
  floatLiteralPaths?: string[];
}

const KNOWN_FIELDS = [
  'peft_type',
  'r',
  'lora_alpha',
  'target_modules',
  'exclude_modules',
  'layers_to_transform',
  'layers_pattern',
  'use_rslora',
  'lora_dropout',
  'bias',
  'task_type',
  'base_model_name_or_path',
  'fan_in_fan_out',
  'init_lora_weights',
  'rank_pattern',
  'alpha_pattern',
  'modules_to_save',
  'use_dora',
  'inference_mode',
] as const;

/** Initialisers that modify the base weights, so the adapter alone does not reproduce the model. */
const RESIDUAL_INITS = /^(pissa|pissa_niter_\d+|olora|corda|loftq|lora_ga)$/;

/** Options that would change the forward pass or the file layout in ways tsd-peft does not implement. */
const MUST_BE_OFF: readonly string[] = ['lora_bias', 'use_qalora'];
const MUST_BE_NULL: readonly string[] = [
  'alora_invocation_tokens',
  'target_parameters',
  'trainable_token_indices',
  'layer_replication',
  'velora_config',
  'monteclora_config',
  'use_bdlora',
  'arrow_config',
  'kasa_config',
];

/**
 * A complete LoRA config: PEFT's `LoraConfig()` defaults, with `task_type`
 * `'CAUSAL_LM'` and `inference_mode` true as `save_pretrained` writes them,
 * overridden by `fields`. Throws {@link ConfigError} if the result is invalid or unsupported.
 */
export function createAdapterConfig(fields: Partial<LoraAdapterConfig> = {}): LoraAdapterConfig {
  const cfg: LoraAdapterConfig = { ...peftDefaults(), task_type: 'CAUSAL_LM', inference_mode: true, ...fields };
  validateAdapterConfig(cfg);
  return cfg;
}

/**
 * Parses `adapter_config.json` text. Missing known fields take PEFT's
 * defaults; unknown fields are kept in `extra`. Throws {@link ConfigError}
 * naming `file` and the field for malformed JSON, wrong types, or
 * unsupported features (trained biases, residual
 * initialisers such as PiSSA, modules_to_save, …).
 */
export function parseAdapterConfig(json: string, file?: string): LoraAdapterConfig {
  let doc: JsonDocument;
  try {
    doc = parseJsonDocument(json);
  } catch (cause) {
    throw new ConfigError(`adapter config is not valid JSON: ${(cause as Error).message}`, { file }, { cause });
  }
  const obj = doc.value;
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new ConfigError('adapter config is not a JSON object', { file });
  }
  if (obj.peft_type !== 'LORA') {
    throw new ConfigError(`peft_type is ${JSON.stringify(obj.peft_type)}, only "LORA" is supported`, { file, field: 'peft_type' });
  }
  const extra: Record<string, JsonValue> = {};
  const known: Partial<Record<string, JsonValue>> = {};
  for (const key of Object.keys(obj)) {
    if ((KNOWN_FIELDS as readonly string[]).includes(key)) known[key] = obj[key] as JsonValue;
    else Object.defineProperty(extra, key, { value: obj[key], enumerable: true, writable: true, configurable: true });
  }
  // The JSON is checked field by field in validateAdapterConfig, so these casts are verified there.
  const fields = known as unknown as Partial<LoraAdapterConfig>;
  const floatLiteralPaths = [...doc.floatPaths].filter((p) => isIntegralAt(obj, p));
  const defined = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<LoraAdapterConfig>;
  const cfg: LoraAdapterConfig = {
    ...peftDefaults(),
    ...defined,
    extra,
    ...(floatLiteralPaths.length > 0 ? { floatLiteralPaths } : {}),
  };
  validateAdapterConfig(cfg, file);
  return cfg;
}

/**
 * Writes a config as PEFT does: `json.dumps(cfg, indent=2, sort_keys=True)`,
 * no trailing newline. Validates first (throws {@link ConfigError}).
 */
export function serializeAdapterConfig(cfg: LoraAdapterConfig): string {
  validateAdapterConfig(cfg);
  const obj: JsonObject = {};
  for (const key of Object.keys(cfg.extra)) {
    Object.defineProperty(obj, key, { value: cfg.extra[key], enumerable: true, writable: true, configurable: true });
  }
  for (const key of KNOWN_FIELDS) obj[key] = cfg[key] as JsonValue;
  const floats = new Set(cfg.floatLiteralPaths ?? []);
  // lora_dropout is a Python float in LoraConfig, so PEFT always writes it as one (0.0).
  floats.add('/lora_dropout');
  return dumpsPythonJson(obj, { indent: 2, sortKeys: true, isFloat: (p) => floats.has(p) });
}

/**
 * Checks types and refuses unsupported features; throws {@link ConfigError}
 * naming the field (the error's `field`) and `file`.
 */
export function validateAdapterConfig(cfg: LoraAdapterConfig, file?: string): void {
  const bad = (field: string, msg: string): never => {
    throw new ConfigError(`${field}: ${msg}`, { file, field: field });
  };
  if (cfg.peft_type !== 'LORA') bad('peft_type', `${JSON.stringify(cfg.peft_type)} is not "LORA"`);
  if (!isPositiveInt(cfg.r)) bad('r', `${JSON.stringify(cfg.r)} is not a positive integer`);
  if (!isFiniteNumber(cfg.lora_alpha)) bad('lora_alpha', `${JSON.stringify(cfg.lora_alpha)} is not a finite number`);
  checkNamesOrRegex(cfg.target_modules, 'target_modules', bad);
  checkNamesOrRegex(cfg.exclude_modules, 'exclude_modules', bad);
  const layers = cfg.layers_to_transform;
  if (layers !== null && !isCountOrCounts(layers)) bad('layers_to_transform', 'must be null, an integer or a list of integers');
  const lp = cfg.layers_pattern;
  if (lp !== null && typeof lp !== 'string' && !(Array.isArray(lp) && lp.every((s) => typeof s === 'string'))) {
    bad('layers_pattern', 'must be null, a string or a list of strings');
  }
  for (const f of ['use_rslora', 'fan_in_fan_out', 'use_dora', 'inference_mode'] as const) {
    if (typeof cfg[f] !== 'boolean') bad(f, `${JSON.stringify(cfg[f])} is not a boolean`);
  }
  if (!isFiniteNumber(cfg.lora_dropout) || cfg.lora_dropout < 0 || cfg.lora_dropout >= 1) bad('lora_dropout', 'must be in [0, 1)');
  if (cfg.bias !== 'none') bad('bias', `${JSON.stringify(cfg.bias)} is not supported (adapters with trained biases); use "none"`);
  for (const f of ['task_type', 'base_model_name_or_path'] as const) {
    if (cfg[f] !== null && typeof cfg[f] !== 'string') bad(f, 'must be a string or null');
  }
  const init = cfg.init_lora_weights;
  if (typeof init !== 'boolean' && typeof init !== 'string') bad('init_lora_weights', 'must be a boolean or a string');
  if (typeof init === 'string' && RESIDUAL_INITS.test(init)) {
    bad('init_lora_weights', `"${init}" changes the base weights; convert the adapter to plain LoRA first`);
  }
  for (const f of ['rank_pattern', 'alpha_pattern'] as const) {
    const pat: unknown = cfg[f];
    if (typeof pat !== 'object' || pat === null || Array.isArray(pat)) bad(f, 'must be an object');
    for (const [k, v] of Object.entries(pat as Record<string, unknown>)) {
      if (f === 'rank_pattern' ? !isPositiveInt(v) : !isFiniteNumber(v)) bad(`${f}.${k}`, `${JSON.stringify(v)} is not valid`);
      compileRegex(`^(?:.*\\.)?(?:${k})$`, `${f}.${k}`, bad);
    }
  }
  const mts = cfg.modules_to_save;
  if (mts !== null && !(Array.isArray(mts) && mts.length === 0)) bad('modules_to_save', 'fully saved modules are not supported');
  if (typeof cfg.extra !== 'object' || cfg.extra === null) bad('extra', 'must be an object');
  for (const f of MUST_BE_OFF) if (cfg.extra[f] !== undefined && cfg.extra[f] !== false) bad(f, 'is not supported');
  for (const f of MUST_BE_NULL) {
    const v = cfg.extra[f];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) bad(f, 'is not supported');
  }
}

/**
 * PEFT's `get_pattern_key`: the first key (in insertion order) such that
 * `re.match(rf"(.*\.)?({key})$", module)` matches, or undefined.
 */
export function matchPatternKey(pattern: Readonly<Record<string, unknown>>, module: string): string | undefined {
  for (const key of Object.keys(pattern)) {
    if (new RegExp(`^(?:.*\\.)?(?:${key})$`).test(module)) return key;
  }
  return undefined;
}

/** The rank of `module`: its `rank_pattern` entry, else `r`. */
export function loraRankFor(cfg: LoraAdapterConfig, module: string): number {
  const key = matchPatternKey(cfg.rank_pattern, module);
  return key === undefined ? cfg.r : (cfg.rank_pattern[key] as number);
}

/** The alpha of `module`: its `alpha_pattern` entry, else `lora_alpha`. */
export function loraAlphaFor(cfg: LoraAdapterConfig, module: string): number {
  const key = matchPatternKey(cfg.alpha_pattern, module);
  return key === undefined ? cfg.lora_alpha : (cfg.alpha_pattern[key] as number);
}

/**
 * The scaling PEFT applies to `module`: alpha/r, or alpha/√r with rsLoRA,
 * with r and alpha taken from `rank_pattern` / `alpha_pattern` when a key matches.
 */
export function loraScaling(cfg: LoraAdapterConfig, module: string): number {
  return loraScalingFor(loraRankFor(cfg, module), loraAlphaFor(cfg, module), cfg.use_rslora);
}

/**
 * Whether PEFT would inject LoRA into `module` (`check_target_module_exists`):
 * a string target is a full-match regex, a list matches exactly or as a
 * `.`-suffix; `'all-linear'` matches everything but `lm_head`;
 * `exclude_modules` and `layers_to_transform` then filter.
 */
export function isTargetModule(cfg: LoraAdapterConfig, module: string): boolean {
  if (matchesNames(cfg.exclude_modules, module)) return false;
  const t = cfg.target_modules;
  const targeted = t === 'all-linear' ? module.split('.').pop() !== 'lm_head' : matchesNames(t, module);
  if (!targeted || cfg.layers_to_transform === null) return targeted;
  const wanted = typeof cfg.layers_to_transform === 'number' ? [cfg.layers_to_transform] : cfg.layers_to_transform;
  const patterns = cfg.layers_pattern === null ? [null] : typeof cfg.layers_pattern === 'string' ? [cfg.layers_pattern] : cfg.layers_pattern;
  for (const p of patterns) {
    const m = new RegExp(p === null ? '^.*\\.[^.]*\\.(\\d+)\\.' : `^.*\\.(?:${p})\\.(\\d+)\\.`).exec(module);
    if (m !== null) return wanted.includes(Number(m[1]));
  }
  return false;
}

function matchesNames(t: string[] | string | null, module: string): boolean {
  if (t === null) return false;
  if (typeof t === 'string') return new RegExp(`^(?:${t})$`).test(module);
  return t.some((name) => module === name || module.endsWith(`.${name}`));
}

function checkNamesOrRegex(v: unknown, field: string, bad: (f: string, m: string) => never): void {
  if (v === null) return;
  if (typeof v === 'string') {
    compileRegex(`^(?:${v})$`, field, bad);
    return;
  }
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) bad(field, 'must be null, a regex string or a list of names');
}

function compileRegex(source: string, field: string, bad: (f: string, m: string) => never): void {
  try {
    new RegExp(source);
  } catch (e) {
    bad(field, `invalid regular expression (${(e as Error).message})`);
  }
}

/** PEFT's `LoraConfig` defaults, for fields a file omits. */
function peftDefaults(): LoraAdapterConfig {
  return {
    peft_type: 'LORA',
    r: 8,
    lora_alpha: 8,
    target_modules: null,
    exclude_modules: null,
    layers_to_transform: null,
    layers_pattern: null,
    use_rslora: false,
    lora_dropout: 0,
    bias: 'none',
    task_type: null,
    base_model_name_or_path: null,
    fan_in_fan_out: false,
    init_lora_weights: true,
    rank_pattern: {},
    alpha_pattern: {},
    modules_to_save: null,
    use_dora: false,
    inference_mode: false,
    extra: {},
  };
}

function isIntegralAt(root: JsonObject, pointer: string): boolean {
  let v: JsonValue | undefined = root;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    v = Array.isArray(v) ? v[Number(seg)] : typeof v === 'object' && v !== null ? v[seg] : undefined;
  }
  return typeof v === 'number' && Number.isInteger(v);
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function isCountOrCounts(v: unknown): boolean {
  const ok = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  return ok(v) || (Array.isArray(v) && v.every(ok));
}
