/**
 * Mutation runs only: once a test has failed under the active mutant, every later test and describe
 * block of that mutant's run is skipped (their hooks too). Stryker's jest runner turns jest's own bail
 * off and runs every covering test of every file, so without this a mutant the first pure test kills
 * still waits for every dynalite suite and simulated fleet that covers its line; a kill is a kill.
 * Jest runs the files in band here, so the process environment carries the verdict from file to file,
 * keyed by the mutant's id.
 */
const { TestEnvironment } = require('jest-environment-node');

const ACTIVE_MUTANT = '__STRYKER_ACTIVE_MUTANT__';
const KILLED = 'SHARDLEASE_KILLED_MUTANT';

class BailOnKillEnvironment extends TestEnvironment {
  async handleTestEvent(event, state) {
    await super.handleTestEvent?.(event, state);
    const mutant = process.env[ACTIVE_MUTANT];
    if (mutant === undefined) return;
    if (event.name === 'test_done' && event.test.errors.length > 0) process.env[KILLED] = mutant;
    if (process.env[KILLED] !== mutant) return;
    if (event.name === 'run_describe_start') event.describeBlock.mode = 'skip';
    if (event.name === 'test_start') event.test.mode = 'skip';
  }
}

module.exports = BailOnKillEnvironment;
