// Types for system-deps.mjs (plain JavaScript: it runs before anything is built).

/** One system requirement of the test suite, with Debian's package names. */
export interface SystemRequirement {
  name: string;
  for: string;
  packages: string[];
  present(): boolean;
}

/** Where the browser tests look for Debian's Chromium. */
export declare const CHROMIUM_PATH: string;

/** What the test suite needs from the system. */
export declare const REQUIREMENTS: SystemRequirement[];

/** What to do about missing requirements: nothing, install them with apt, or fail with one line. */
export declare function planSystemDeps(probe: {
  missing: SystemRequirement[];
  isRoot: boolean;
  hasApt: boolean;
}): { action: 'none' } | { action: 'install'; packages: string[] } | { action: 'fail'; message: string };
