import { ConfigError } from '../../lib/core/config';
import { loadReaperConfig } from '../../lib/core/reaper-config';

describe('loadReaperConfig', () => {
  it('reads the service settings, the stream and the switches, with defaults', () => {
    expect(loadReaperConfig({ TABLE_NAME: 'leases', STREAM_NAME: ' orders ' })).toEqual({
      tableName: 'leases',
      leaseDurationMs: 10_000,
      claimTimeoutMs: 120_000,
      reaperGraceMs: 10_000,
      streamName: 'orders',
      deleteEndedRows: true,
    });
  });

  it('takes endpoints for local engines and the ended-rows switch, and no stream', () => {
    const config = loadReaperConfig({
      TABLE_NAME: 'leases',
      KINESIS_ENDPOINT: 'http://127.0.0.1:4567',
      DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000',
      REAPER_DELETE_ENDED_ROWS: 'false',
    });
    expect(config).toMatchObject({
      kinesisEndpoint: 'http://127.0.0.1:4567',
      dynamoDbEndpoint: 'http://127.0.0.1:8000',
      deleteEndedRows: false,
    });
    expect(config.streamName).toBeUndefined();
  });

  it('refuses a list of streams: one table serves one stream', () => {
    expect(() => loadReaperConfig({ TABLE_NAME: 'leases', STREAM_NAME: 'orders,payments' })).toThrow(
      'STREAM_NAME="orders,payments" must name one stream: one lease table serves one stream',
    );
  });

  it('lists every problem at once, each with its variable and value', () => {
    let error: unknown;
    try {
      loadReaperConfig({
        STREAM_NAME: 'bad name',
        KINESIS_ENDPOINT: 'localhost:4567',
        REAPER_DELETE_ENDED_ROWS: 'yes',
        REAPER_GRACE_MS: '-1',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'TABLE_NAME is required',
      'REAPER_GRACE_MS="-1" must be an integer in 0..86400000',
      'STREAM_NAME="bad name" must be 1..128 of [a-zA-Z0-9_.-]',
      'KINESIS_ENDPOINT="localhost:4567" must be an http(s) URL',
      'REAPER_DELETE_ENDED_ROWS="yes" must be true or false',
    ]);
  });
});
