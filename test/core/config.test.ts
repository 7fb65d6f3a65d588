import {
  ConfigError,
  DEFAULT_CLAIM_TIMEOUT_MS,
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_PORT,
  DEFAULT_REAPER_INTERVAL_MS,
  loadConfig,
  loadLocalConfig,
} from '../../lib/core/config';

function problemsOf(load: () => unknown): readonly string[] {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('reads the table name and applies the contract defaults', () => {
    expect(loadConfig({ TABLE_NAME: 'leases' })).toEqual({
      tableName: 'leases',
      leaseDurationMs: DEFAULT_LEASE_DURATION_MS,
      claimTimeoutMs: DEFAULT_CLAIM_TIMEOUT_MS,
      reaperGraceMs: expect.any(Number),
    });
    expect(DEFAULT_LEASE_DURATION_MS).toBe(10_000);
    expect(DEFAULT_CLAIM_TIMEOUT_MS).toBe(120_000);
  });

  it('reads explicit durations', () => {
    expect(
      loadConfig({
        TABLE_NAME: 'leases',
        LEASE_DURATION_MS: '5000',
        CLAIM_TIMEOUT_MS: '30000',
        REAPER_GRACE_MS: '0',
      }),
    ).toEqual({ tableName: 'leases', leaseDurationMs: 5000, claimTimeoutMs: 30000, reaperGraceMs: 0 });
  });

  it('lists every problem at once, each naming its variable and value', () => {
    const problems = problemsOf(() =>
      loadConfig({ LEASE_DURATION_MS: 'ten', CLAIM_TIMEOUT_MS: '-5', REAPER_GRACE_MS: '1.5' }),
    );
    expect(problems).toHaveLength(4);
    expect(problems[0]).toBe('TABLE_NAME is required');
    expect(problems[1]).toMatch(/^LEASE_DURATION_MS="ten" must be an integer/);
    expect(problems[2]).toMatch(/^CLAIM_TIMEOUT_MS="-5" must be an integer/);
    expect(problems[3]).toMatch(/^REAPER_GRACE_MS="1.5" must be an integer/);
  });

  it('refuses a table name DynamoDB would refuse, and a lease duration out of range', () => {
    const problems = problemsOf(() => loadConfig({ TABLE_NAME: 'ab', LEASE_DURATION_MS: '99' }));
    expect(problems).toEqual([
      expect.stringMatching(/^TABLE_NAME="ab" must be 3\.\.255/),
      expect.stringMatching(/^LEASE_DURATION_MS="99" must be an integer in 100\.\./),
    ]);
  });

  it('treats an empty or blank variable as unset', () => {
    expect(problemsOf(() => loadConfig({ TABLE_NAME: '   ' }))).toEqual(['TABLE_NAME is required']);
    expect(loadConfig({ TABLE_NAME: 'leases', LEASE_DURATION_MS: '' }).leaseDurationMs).toBe(
      DEFAULT_LEASE_DURATION_MS,
    );
  });
});

describe('loadLocalConfig', () => {
  it('needs no variables at all', () => {
    const config = loadLocalConfig({});
    expect(config).toMatchObject({ tableName: 'shardlease-local', port: DEFAULT_PORT });
    expect(config.dataDir).toBeUndefined();
    expect(config.dynamoDbEndpoint).toBeUndefined();
    expect(config.reaperIntervalMs).toBe(DEFAULT_REAPER_INTERVAL_MS);
    expect(config.reaperDeletesEndedRows).toBe(true);
  });

  it('reads REAPER_DELETE_ENDED_ROWS as the deployed reaper does (true | false)', () => {
    expect(loadLocalConfig({ REAPER_DELETE_ENDED_ROWS: 'false' }).reaperDeletesEndedRows).toBe(false);
    expect(loadLocalConfig({ REAPER_DELETE_ENDED_ROWS: 'true' }).reaperDeletesEndedRows).toBe(true);
    expect(loadLocalConfig({ REAPER_DELETE_ENDED_ROWS: ' ' }).reaperDeletesEndedRows).toBe(true);
    expect(problemsOf(() => loadLocalConfig({ REAPER_DELETE_ENDED_ROWS: 'no' }))).toEqual([
      'REAPER_DELETE_ENDED_ROWS="no" must be true or false',
    ]);
  });

  it('switches the reaper off with REAPER_INTERVAL_MS=0, and takes 100 ms or more otherwise', () => {
    expect(loadLocalConfig({ REAPER_INTERVAL_MS: '0' }).reaperIntervalMs).toBe(0);
    expect(loadLocalConfig({ REAPER_INTERVAL_MS: '100' }).reaperIntervalMs).toBe(100);
    expect(loadLocalConfig({ REAPER_INTERVAL_MS: '60000' }).reaperIntervalMs).toBe(60_000);
    for (const bad of ['99', '1', '-1', 'off', '2147483648']) {
      expect(problemsOf(() => loadLocalConfig({ REAPER_INTERVAL_MS: bad }))).toEqual([
        `REAPER_INTERVAL_MS=${JSON.stringify(bad)} must be 0 (off) or an integer in 100..2147483647`,
      ]);
    }
  });

  it('lists every problem of the service and local variables together', () => {
    const problems = problemsOf(() =>
      loadLocalConfig({
        PORT: '70000',
        LEASE_DURATION_MS: 'x',
        REAPER_INTERVAL_MS: '5',
        REAPER_DELETE_ENDED_ROWS: 'yes',
      }),
    );
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/REAPER_DELETE_ENDED_ROWS="yes"/);
    expect(problems.join('\n')).toMatch(/LEASE_DURATION_MS="x"/);
    expect(problems.join('\n')).toMatch(/PORT="70000" must be an integer in 0\.\.65535/);
    expect(problems.join('\n')).toMatch(/REAPER_INTERVAL_MS="5"/);
  });

  it('checks the log level and format, in any letter case, instead of letting them fall back silently', () => {
    expect(() => loadLocalConfig({ POWERTOOLS_LOG_LEVEL: 'debug', LOG_FORMAT: 'PRETTY' })).not.toThrow();
    expect(() => loadLocalConfig({ LOG_FORMAT: 'json' })).not.toThrow();
    expect(problemsOf(() => loadLocalConfig({ POWERTOOLS_LOG_LEVEL: 'bogus', LOG_FORMAT: 'prety' }))).toEqual(
      [
        'POWERTOOLS_LOG_LEVEL="bogus" must be one of TRACE, DEBUG, INFO, WARN, ERROR, CRITICAL, SILENT',
        'LOG_FORMAT="prety" must be one of json, pretty',
      ],
    );
    // Lambda reads the level too (the stack sets a valid one).
    expect(problemsOf(() => loadConfig({ TABLE_NAME: 'leases', POWERTOOLS_LOG_LEVEL: 'loud' }))).toEqual([
      'POWERTOOLS_LOG_LEVEL="loud" must be one of TRACE, DEBUG, INFO, WARN, ERROR, CRITICAL, SILENT',
    ]);
  });
});
