/**
 * `shardlease dashboard`: the local server's shard page for any service, a deployed one included. A
 * small loopback HTTP server renders the same page and JSON from the API (through the signed client)
 * instead of from an embedded table.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Checkpointer } from '../core/checkpointer';
import { dashboardSnapshot, renderDashboardPage } from '../local/dashboard';

export interface DashboardServerOptions {
  readonly checkpointer: Checkpointer;
  /** What the page names as its source (the API URL). */
  readonly label: string;
  readonly port: number;
  readonly leaseDurationMs: number;
  readonly now: () => number;
  /** The page's URL, once listening. */
  readonly onListening: (url: string) => void;
  /** Stops the server; the promise resolves once it has closed. */
  readonly signal: AbortSignal;
}

export async function serveDashboard(options: DashboardServerOptions): Promise<void> {
  const server = createServer((request, response) => {
    request.resume();
    const path = (request.url ?? '/').split('?')[0];
    if (
      (path !== '/' && path !== '/dashboard.json') ||
      (request.method !== 'GET' && request.method !== 'HEAD')
    ) {
      response
        .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
        .end('not found: the page is at /\n');
      return;
    }
    dashboardSnapshot(options.checkpointer, options.label, options.now(), options.leaseDurationMs).then(
      (snapshot) => {
        const [type, body] =
          path === '/'
            ? ['text/html; charset=utf-8', renderDashboardPage(snapshot)]
            : ['application/json', JSON.stringify(snapshot)];
        response.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
      },
      (error: unknown) => {
        // The API's own error, in words: the page's script shows it and keeps polling.
        const message = error instanceof Error ? error.message : String(error);
        response
          .writeHead(502, { 'content-type': 'text/plain; charset=utf-8' })
          .end(`the API failed: ${message}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  options.onListening(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  await new Promise<void>((resolve) => {
    const close = () => {
      server.close(() => resolve());
      server.closeAllConnections();
    };
    if (options.signal.aborted) close();
    else options.signal.addEventListener('abort', close, { once: true });
  });
}
