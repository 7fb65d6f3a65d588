/**
 * A Checkpointer in front of the simulated service whose every call follows a script, for scenarios
 * that need one exact fault at one exact moment (the seeded network draws them at random): pass, hang
 * (applied or not, never answered), or delay the request and/or the answer, all on virtual time. Every
 * call is logged with its start, its answer and its outcome.
 */
import type { Checkpointer } from '../../lib/core/checkpointer';
import { type Scheduler, sleep } from '../../lib/core/scheduler';

export type CallScript =
  | 'pass'
  /** Never answered; `applied` says whether the service still receives it. */
  | { readonly hang: true; readonly applied: boolean }
  | { readonly requestDelayMs?: number; readonly answerDelayMs?: number };

export type Method = keyof Checkpointer;

export interface CallLog {
  readonly method: Method;
  readonly args: readonly unknown[];
  readonly startedAtMs: number;
  appliedAtMs?: number;
  answeredAtMs?: number;
  outcome?: 'ok' | 'error';
  error?: unknown;
}

export interface Scripted {
  readonly checkpointer: Checkpointer;
  readonly calls: CallLog[];
  /** What happens to the next calls; may be replaced at any time. */
  script: (method: Method, args: readonly unknown[]) => CallScript;
}

export function scriptedCheckpointer(service: Checkpointer, scheduler: Scheduler): Scripted {
  const scripted: Scripted = {
    calls: [],
    script: () => 'pass',
    checkpointer: undefined as unknown as Checkpointer,
  };
  const invoke = async (method: Method, args: unknown[]): Promise<unknown> => {
    const log: CallLog = { method, args, startedAtMs: scheduler.now() };
    scripted.calls.push(log);
    const plan = scripted.script(method, args);
    const apply = () => {
      log.appliedAtMs = scheduler.now();
      return (service[method] as (...a: unknown[]) => Promise<unknown>).apply(service, args);
    };
    if (plan !== 'pass' && 'hang' in plan) {
      if (plan.applied) apply().catch(() => undefined);
      return new Promise(() => undefined);
    }
    const delays = plan === 'pass' ? {} : plan;
    if (delays.requestDelayMs) await sleep(scheduler, delays.requestDelayMs);
    const settled = await apply().then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    if (delays.answerDelayMs) await sleep(scheduler, delays.answerDelayMs);
    log.answeredAtMs = scheduler.now();
    if ('error' in settled) {
      log.outcome = 'error';
      log.error = settled.error;
      throw settled.error;
    }
    log.outcome = 'ok';
    return settled.value;
  };
  const checkpointer = new Proxy(service, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => invoke(property as Method, args);
    },
  });
  return Object.assign(scripted, { checkpointer });
}
