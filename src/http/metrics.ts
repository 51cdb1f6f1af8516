import type { FastifyInstance } from 'fastify';

/** A small Prometheus text endpoint: request counts by route and status class, and process memory. */
export async function metricsRoutes(app: FastifyInstance) {
  const requestCounts = new Map<string, number>();
  app.addHook('onResponse', async (request, reply) => {
    const key = `${request.method} ${request.routeOptions.url ?? 'unmatched'} ${Math.floor(reply.statusCode / 100)}xx`;
    requestCounts.set(key, (requestCounts.get(key) ?? 0) + 1);
  });

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    const lines = [
      '# HELP returnvault_http_requests_total HTTP requests by route and status class.',
      '# TYPE returnvault_http_requests_total counter',
    ];
    for (const [key, count] of requestCounts) {
      const [method, route, status] = key.split(' ');
      lines.push(
        `returnvault_http_requests_total{method="${method}",route="${route}",status="${status}"} ${count}`,
      );
    }
    const memory = process.memoryUsage();
    lines.push('# TYPE returnvault_process_resident_memory_bytes gauge');
    lines.push(`returnvault_process_resident_memory_bytes ${memory.rss}`);
    lines.push('# TYPE returnvault_process_heap_used_bytes gauge');
    lines.push(`returnvault_process_heap_used_bytes ${memory.heapUsed}`);
    reply.type('text/plain; version=0.0.4');
    return `${lines.join('\n')}\n`;
  });
}
