import type { RunningDynalite } from '../../lib/local/embedded-dynalite';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __dynalite?: RunningDynalite }).__dynalite?.close();
}
