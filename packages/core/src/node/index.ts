export { fixturesDir, fixturePath, hasFixture, FIXTURES_ENV } from './fixtures.js';
