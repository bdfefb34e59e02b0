// Runs `vitest run` (extra arguments are passed on), then prints
// `tests: N passed, M failed` from vitest's JSON report as the last line, so
// `npm test` ends with the count CI reads. Exits non-zero when tests failed,
// none ran, or vitest did not report.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const report = '.tmp/vitest-results.json'; // vitest.config.ts writes it there
mkdirSync('.tmp', { recursive: true });
rmSync(report, { force: true });

const vitestPackage = createRequire(import.meta.url).resolve('vitest/package.json');
const vitest = join(dirname(vitestPackage), JSON.parse(readFileSync(vitestPackage, 'utf8')).bin.vitest);
const run = spawnSync(process.execPath, [vitest, 'run', ...process.argv.slice(2)], { stdio: 'inherit' });

if (!existsSync(report)) {
  console.log('tests: 0 passed, 1 failed');
  console.error(`no vitest report at ${report}: vitest failed before reporting`);
  process.exit(1);
}
const results = JSON.parse(readFileSync(report, 'utf8'));
const passed = results.numPassedTests ?? 0;
const failed = (results.numFailedTests ?? 0) + (results.numFailedTestSuites ?? 0);
const skipped = (results.numPendingTests ?? 0) + (results.numTodoTests ?? 0);
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(run.status !== 0 || failed > 0 || passed === 0 ? 1 : 0);
