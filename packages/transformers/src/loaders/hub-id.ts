/** Hub repo ids, browser-safe (no Node built-ins, no transformers.js import). */

/** Same rule as transformers.js `isValidHfModelId`: `name` or `owner/name`, no `..`/`--`. */
export function isHubModelId(id: string): boolean {
  if (!/^(\b[\w\-.]+\b\/)?\b[\w\-.]{1,96}\b$/.test(id)) return false;
  return !(id.includes('..') || id.includes('--') || id.endsWith('.git') || id.endsWith('.ipynb'));
}
