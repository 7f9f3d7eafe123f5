/**
 * Error codes that mean the request never got an answer from the instance: it could not be
 * reached, the connection broke, or it did not answer in time. Node's fetch (undici) reports them
 * as `TypeError: fetch failed` with the system or undici error as `cause`.
 */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'ERR_SOCKET_CLOSED',
]);

/**
 * True when `err` is a connection-level failure (refused, reset, unreachable, timed out), as
 * opposed to an answer from the instance or a mistake of the caller.
 * @internal
 */
export function isConnectionFailure(err: unknown, depth = 0): boolean {
  if (depth > 5 || err === null || typeof err !== 'object') return false;
  const { code, cause, errors, name } = err as {
    code?: unknown;
    cause?: unknown;
    errors?: unknown;
    name?: unknown;
  };
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  if (name === 'TimeoutError') return true;
  // Happy-eyeballs connects report every address tried in an AggregateError.
  if (Array.isArray(errors) && errors.some(e => isConnectionFailure(e, depth + 1))) return true;
  return isConnectionFailure(cause, depth + 1);
}

/** The most specific code or message of a connection failure, for log lines and errors. */
export function failureReason(err: unknown): string {
  let current: unknown = err;
  let reason = err instanceof Error ? err.message : String(err);
  for (let i = 0; i < 5 && current !== null && typeof current === 'object'; i++) {
    const { code, message, cause, name } = current as {
      code?: unknown;
      message?: unknown;
      cause?: unknown;
      name?: unknown;
    };
    if (typeof code === 'string') return code;
    if (name === 'TimeoutError') return 'TimeoutError';
    if (typeof message === 'string' && message) reason = message;
    current = cause;
  }
  return reason;
}
