import {
  ConfigError,
  DEFAULT_CLAIM_TIMEOUT_MS,
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_PORT,
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
  });

  it('lists every problem of the service and local variables together', () => {
    const problems = problemsOf(() =>
      loadLocalConfig({ PORT: '70000', LEASE_DURATION_MS: 'x', REAPER_INTERVAL_MS: '5' }),
    );
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/LEASE_DURATION_MS="x"/);
    expect(problems.join('\n')).toMatch(/PORT="70000" must be an integer in 0\.\.65535/);
    expect(problems.join('\n')).toMatch(/REAPER_INTERVAL_MS="5"/);
  });
});
