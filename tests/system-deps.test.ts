import { describe, expect, it } from 'vitest';
import { CHROMIUM_PATH, REQUIREMENTS, planSystemDeps, type SystemRequirement } from '../tooling/scripts/system-deps.mjs';

const chromium = REQUIREMENTS.find((r) => r.name === 'Chromium') as SystemRequirement;
const mesa = REQUIREMENTS.find((r) => r.name === 'Mesa EGL/GLES') as SystemRequirement;

describe('npm test system dependencies', () => {
  it('does nothing when everything is present', () => {
    expect(planSystemDeps({ missing: [], isRoot: false, hasApt: false })).toEqual({ action: 'none' });
  });

  it('installs what is missing with apt when root', () => {
    expect(planSystemDeps({ missing: [chromium, mesa], isRoot: true, hasApt: true })).toEqual({
      action: 'install',
      packages: ['chromium', 'libegl1', 'libegl-mesa0', 'libgles2', 'libgl1-mesa-dri'],
    });
  });

  it('names the packages and the command in one line when it cannot install', () => {
    const notRoot = planSystemDeps({ missing: [chromium], isRoot: false, hasApt: true });
    expect(notRoot).toEqual({
      action: 'fail',
      message: 'npm test needs Chromium (bench report and browser demo tests); install them with: sudo apt-get install -y chromium',
    });
    const noApt = planSystemDeps({ missing: [mesa], isRoot: true, hasApt: false });
    expect(noApt.action).toBe('fail');
    if (noApt.action === 'fail') {
      expect(noApt.message).not.toContain('\n');
      expect(noApt.message).toContain('Mesa EGL/GLES');
      expect(noApt.message).toContain('libegl-mesa0');
    }
  });

  it('finds what it installed: the suite runs after this check', () => {
    // `npm test` ran the check before vitest, so every requirement is present now.
    expect(REQUIREMENTS.filter((r) => !r.present()).map((r) => r.name)).toEqual([]);
    expect(CHROMIUM_PATH).toBe('/usr/bin/chromium');
  });
});
