import { z } from 'zod';
import type { ValidationIssue } from './app-error';
import { type ErrorCode, errorCodes } from './error-codes';

export const problemContentType = 'application/problem+json';

/** RFC 9457 problem details, with a stable machine `code`. */
export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .loose()
  .meta({ id: 'Problem' });

export type Problem = z.infer<typeof problemSchema>;

export function buildProblem(
  code: ErrorCode,
  detail: string,
  options: { requestId?: string; errors?: ValidationIssue[]; extensions?: Record<string, unknown> } = {},
): Problem {
  const { status, title } = errorCodes[code];
  return {
    type: `https://returnvault.dev/problems/${code.replaceAll('_', '-')}`,
    title,
    status,
    detail,
    code,
    ...(options.requestId ? { instance: `urn:returnvault:request:${options.requestId}` } : {}),
    ...(options.errors ? { errors: options.errors } : {}),
    ...options.extensions,
  };
}

/** Problem responses to declare on a route's schema, so the OpenAPI document lists them. */
export function problemResponses(...statuses: number[]) {
  return Object.fromEntries(statuses.map((status) => [status, problemSchema]));
}
