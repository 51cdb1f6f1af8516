import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { resolveTarget, TargetRefusedError, type TargetRules } from './target-guard';

/** How much of a receiver's answer is read (and thrown away): a huge body cannot tie up memory. */
const maxResponseBytes = 64 * 1024;

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  rules: TargetRules;
  agents: { http: http.Agent; https: https.Agent };
  /** Aborts the request when the dispatcher is killed. */
  signal?: AbortSignal;
}

export type ErrorClass =
  | 'timeout'
  | 'connection_refused'
  | 'connection_reset'
  | 'dns_failure'
  | 'tls_error'
  | 'target_refused'
  | 'redirect'
  | 'http_error'
  | 'aborted'
  | 'network_error';

export interface WebhookResponse {
  delivered: boolean;
  statusCode?: number;
  errorClass?: ErrorClass;
  durationMs: number;
}

class TimeoutError extends Error {}

function classifyError(error: unknown): ErrorClass {
  if (error instanceof TimeoutError) return 'timeout';
  if (error instanceof TargetRefusedError) return error.errorClass;
  const code = String((error as { code?: unknown }).code ?? '');
  if (code === 'ABORT_ERR' || (error as Error).name === 'AbortError') return 'aborted';
  if (code === 'ECONNREFUSED') return 'connection_refused';
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE')
    return 'connection_reset';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns_failure';
  if (/^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH|ERR_TLS_CERT)/.test(code)) {
    return 'tls_error';
  }
  return 'network_error';
}

/** Connects to the address the guard checked, whatever the resolver would answer now. */
function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) {
      (callback as (error: null, addresses: { address: string; family: number }[]) => void)(null, [
        { address, family },
      ]);
    } else {
      callback(null, address, family);
    }
  };
}

/**
 * POSTs one webhook. The whole exchange (DNS, connect, TLS, headers, body) fits in `timeoutMs`;
 * redirects are never followed (a 3xx is a failure); at most 64 KiB of the answer is read.
 * Never throws: the outcome is what the attempt records.
 */
export async function sendWebhook(request: WebhookRequest): Promise<WebhookResponse> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const url = new URL(request.url);
  let clientRequest: http.ClientRequest | undefined;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    const statusCode = await new Promise<number>((resolve, reject) => {
      timer = setTimeout(() => {
        const error = new TimeoutError('timeout');
        clientRequest?.destroy(error);
        reject(error);
      }, request.timeoutMs);
      onAbort = () => {
        const error = Object.assign(new Error('aborted'), { name: 'AbortError' });
        clientRequest?.destroy(error);
        reject(error);
      };
      if (request.signal?.aborted) return onAbort();
      request.signal?.addEventListener('abort', onAbort, { once: true });

      resolveTarget(url, request.rules).then(({ address, family }) => {
        const secure = url.protocol === 'https:';
        const transport = secure ? https : http;
        clientRequest = transport.request(url, {
          method: 'POST',
          agent: secure ? request.agents.https : request.agents.http,
          lookup: pinnedLookup(address, family),
          headers: {
            ...request.headers,
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(request.body)),
            'user-agent': 'returnvault-webhooks/1',
          },
        });
        clientRequest.on('error', reject);
        clientRequest.on('response', (response) => {
          let received = 0;
          response.on('data', (chunk: Buffer) => {
            received += chunk.length;
            // Enough read to know the outcome; the rest is dropped with the connection.
            if (received > maxResponseBytes) {
              response.destroy();
              resolve(response.statusCode ?? 0);
            }
          });
          response.on('end', () => resolve(response.statusCode ?? 0));
          response.on('error', reject);
        });
        clientRequest.end(request.body);
      }, reject);
    });
    if (statusCode >= 200 && statusCode < 300) return { delivered: true, statusCode, durationMs: elapsed() };
    return {
      delivered: false,
      statusCode,
      errorClass: statusCode >= 300 && statusCode < 400 ? 'redirect' : 'http_error',
      durationMs: elapsed(),
    };
  } catch (error) {
    return { delivered: false, errorClass: classifyError(error), durationMs: elapsed() };
  } finally {
    clearTimeout(timer);
    if (onAbort) request.signal?.removeEventListener('abort', onAbort);
  }
}
