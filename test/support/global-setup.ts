/**
 * One real dynalite for the whole run, on a free loopback port. Tests talk to it over HTTP with the
 * real AWS SDK client; each test file makes its own table, so files never see each other's rows.
 */
import { startDynalite } from '../../lib/local/embedded-dynalite';

export default async function globalSetup(): Promise<void> {
  const dynalite = await startDynalite();
  (globalThis as { __dynalite?: unknown }).__dynalite = dynalite;
  process.env.TEST_DYNAMODB_ENDPOINT = dynalite.endpoint;
}
