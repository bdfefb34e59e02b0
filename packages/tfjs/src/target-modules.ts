import { ConfigError } from '@tsd-peft/core';

/**
 * The module path of a weight name: `model.layers.0.self_attn.q_proj.weight`
 * → `model.layers.0.self_attn.q_proj` (names without `.weight` are kept).
 */
export function moduleOfWeight(weightName: string): string {
  return weightName.endsWith('.weight') ? weightName.slice(0, -'.weight'.length) : weightName;
}

/** Heuristic for 'all-linear': embeddings and the output head are not linear adapters targets (as in PEFT). */
const NOT_LINEAR = /(^|\.)(lm_head|embed_tokens|wte|wpe|embed_positions|word_embeddings|position_embeddings)$/;

/**
 * Natural order of module paths: dot-separated parts, numeric parts compared
 * as numbers (layers.2 before layers.10) — the order the reference scripts
 * draw random initialisations in.
 */
export function compareModulePaths(a: string, b: string): number {
  const pa = a.split('.');
  const pb = b.split('.');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] as string;
    const y = pb[i] as string;
    if (x === y) continue;
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    if (!Number.isNaN(nx) && !Number.isNaN(ny)) return nx - ny;
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

/**
 * The module paths among `modules` (paths of 2-D weights) that `targets`
 * selects, in natural order ({@link compareModulePaths}). A list entry
 * matches a path equal to it or ending in `.entry` (PEFT); a RegExp is
 * tested on the path; 'all-linear' takes everything but embeddings and
 * `lm_head`. Throws {@link ConfigError} listing the available module paths
 * when a list entry matches nothing or nothing is selected at all.
 */
export function selectTargetModules(modules: Iterable<string>, targets: readonly string[] | RegExp | 'all-linear'): string[] {
  const available = [...modules].sort(compareModulePaths);
  let selected: string[];
  if (targets === 'all-linear') {
    selected = available.filter((m) => !NOT_LINEAR.test(m));
  } else if (targets instanceof RegExp) {
    selected = available.filter((m) => {
      targets.lastIndex = 0;
      return targets.test(m);
    });
  } else {
    const matches = (m: string, t: string): boolean => m === t || m.endsWith(`.${t}`);
    const unknown = targets.filter((t) => !available.some((m) => matches(m, t)));
    if (unknown.length > 0) {
      throw new ConfigError(`target module${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `'${u}'`).join(', ')} matched no 2-D weight; available modules: ${available.join(', ')}`, {
        field: 'targetModules',
      });
    }
    selected = available.filter((m) => targets.some((t) => matches(m, t)));
  }
  if (selected.length === 0) {
    throw new ConfigError(`targetModules ${String(targets)} selected no module; available modules: ${available.join(', ')}`, {
      field: 'targetModules',
    });
  }
  return selected;
}
