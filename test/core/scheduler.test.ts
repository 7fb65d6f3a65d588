import { systemScheduler, VirtualScheduler, withDeadline } from '../../lib/core/scheduler';

describe('systemScheduler', () => {
  it('keeps the process alive while a timer is pending: a consumer whose only work is its coordinator must not exit', () => {
    const handle = systemScheduler.setTimeout(() => undefined, 60_000) as NodeJS.Timeout;
    try {
      expect(handle.hasRef()).toBe(true);
    } finally {
      systemScheduler.clearTimeout(handle);
    }
  });
});

describe('VirtualScheduler', () => {
  it('fires timers in order of their instant, then of creation, only as time advances, never a cleared one', async () => {
    const clock = new VirtualScheduler(1_000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b@20'), 20);
    clock.setTimeout(() => fired.push('a@10'), 10);
    const cleared = clock.setTimeout(() => fired.push('cleared'), 5);
    clock.setTimeout(() => fired.push('c@20'), 20);
    clock.clearTimeout(cleared);
    await clock.advance(15);
    expect(fired).toEqual(['a@10']);
    await clock.advance(5);
    expect(fired).toEqual(['a@10', 'b@20', 'c@20']);
    expect(clock.now()).toBe(1_020);
    expect(clock.pending()).toBe(0);
  });

  it('lets a deadline lose to an answer and win over a hang', async () => {
    const clock = new VirtualScheduler();
    await expect(withDeadline(clock, Promise.resolve(7), 10, 'answer')).resolves.toBe(7);
    const hung = withDeadline(clock, new Promise<never>(() => undefined), 10, 'hang');
    const outcome = hung.catch((error: Error) => error.message);
    await clock.advance(10);
    await expect(outcome).resolves.toBe('hang: no answer within 10 ms');
  });
});
