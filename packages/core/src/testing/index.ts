// @tsd-peft/core/testing: the fixtures folder for tests and benches (Node only).
export { fixturesDir, fixturePath, hasFixture, FIXTURES_ENV, FixtureMissingError } from './fixtures.js';
