/**
 * The one registry of error codes. `code` is stable for machines; `title` is the same for every
 * occurrence (RFC 9457); the `detail` of each occurrence is written where the error is thrown.
 */
export const errorCodes = {
  validation_failed: { status: 400, title: 'The request is not valid' },
  malformed_body: { status: 400, title: 'The request body is not valid JSON' },
  malformed_request: { status: 400, title: 'The HTTP request is malformed' },
  purpose_required: { status: 400, title: 'A declared purpose is required' },
  purpose_unknown: { status: 400, title: 'The purpose is not declared in the policies' },
  invalid_cursor: { status: 400, title: 'The cursor is not valid' },
  unauthorized: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Not allowed' },
  purpose_not_allowed: { status: 403, title: 'The purpose does not allow reading this data' },
  not_found: { status: 404, title: 'Not found' },
  audit_not_sequenced: { status: 404, title: 'Not in the signed audit log yet' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  request_timeout: { status: 408, title: 'The request took too long to arrive' },
  conflict: { status: 409, title: 'Conflict with the current state' },
  transition_not_allowed: { status: 409, title: 'Transition not allowed from the current status' },
  retention_run_in_progress: { status: 409, title: 'A retention run is in progress' },
  request_not_verified: { status: 409, title: 'The subject request is not verified' },
  extension_not_allowed: { status: 409, title: 'The deadline cannot be extended' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported content type' },
  uri_too_long: { status: 414, title: 'The URL is too long' },
  unprocessable: { status: 422, title: 'The request cannot be processed' },
  return_not_eligible: { status: 422, title: 'The return is not eligible' },
  rate_limited: { status: 429, title: 'Too many requests' },
  headers_too_large: { status: 431, title: 'The request headers are too large' },
  internal_error: { status: 500, title: 'Internal error' },
  data_integrity_failure: { status: 500, title: 'Stored data failed its integrity check' },
  key_unavailable: { status: 503, title: 'A master key the data needs is not configured' },
  database_unavailable: { status: 503, title: 'The database is unavailable' },
  auth_keys_unavailable: { status: 503, title: "The identity provider's keys are unavailable" },
  not_ready: { status: 503, title: 'The service is not ready' },
  overloaded: { status: 503, title: 'The service is overloaded' },
  audit_streams_busy: { status: 503, title: 'Too many audit streams at once' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCodes;
