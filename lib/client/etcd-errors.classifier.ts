import { isBrokenCircuitError } from 'cockatiel';
import { ClientClosedError, EtcdLeaseInvalidError } from 'etcd3';
import { describeCause } from '../common/describe-cause.js';

/**
 * What an answer from etcd (a request etcd received and refused) means. Never a reason to distrust
 * the connection.
 * @internal
 */
export type EtcdAnswerCode =
  | 'permission-denied'
  | 'auth-failed'
  | 'invalid-auth-token'
  | 'too-large'
  | 'no-space'
  | 'lease-not-found'
  | 'compacted'
  | 'future-revision'
  | 'rejected';

/**
 * One failed etcd call, classified once:
 * - `transport`: etcd was not reached, or not in a state to answer (refused / reset connection,
 *   deadline, no leader, server stopping, our own circuit breaker open). Counts against the host.
 * - `answer`: etcd received the request and refused it, with a reason. Never counts against the
 *   host, never resets the channel; the caller gets a named error carrying etcd's reason.
 * - `closed`: the module closed the client (shutdown).
 * @internal
 */
export type EtcdFailure =
  | { kind: 'transport'; reason: string; breakerOpen: boolean }
  | { kind: 'answer'; code: EtcdAnswerCode; reason: string }
  | { kind: 'closed'; reason: string };

/** etcd's own messages ("etcdserver: …") that say the server cannot answer right now. */
const UNAVAILABLE_SERVER =
  /etcdserver: (no leader|not leader|leader changed|server stopped|request timed out|unhealthy cluster|corrupt cluster|too many requests|not capable|rpc not supported for learner)/i;

/** etcd's answers, most specific first. */
const ANSWERS: Array<[RegExp, EtcdAnswerCode]> = [
  [/invalid auth token/i, 'invalid-auth-token'],
  [/permission denied|role is not granted|permission is not granted/i, 'permission-denied'],
  [/authentication failed|user name not found|user name is empty/i, 'auth-failed'],
  [/database space exceeded|NOSPACE/i, 'no-space'],
  [/request is too large|larger than max/i, 'too-large'],
  [/requested lease not found|lease .* is expired or revoked/i, 'lease-not-found'],
  [/required revision has been compacted/i, 'compacted'],
  [/required revision is a future revision/i, 'future-revision'],
];

/** grpc-js's connection failure without a recorded reason. */
const REASONLESS = /Last error: null/i;

/** A call's own deadline (grpc-js status name, or etcd3's message). */
const DEADLINE = /DEADLINE_EXCEEDED|deadline exceeded/i;

/** etcd's answer when auth is on and the request carried no user. */
const EMPTY_USER = /user name is empty/i;

/** Node's TLS error codes (`CERT_HAS_EXPIRED`, `ERR_SSL_...`, `ERR_TLS_...`, `DEPTH_ZERO_SELF_SIGNED_CERT`). */
const TLS_CODE = /CERT|SSL|TLS/i;
/** A TLS failure as grpc-js words it in the message (it wraps the socket error). */
const TLS_MESSAGE = /certificate|self[- ]signed|SSL routines|TLS handshake|ERR_SSL|ERR_TLS/i;
/** A handshake the server ended with an alert (e.g. it wants a client certificate): TLS all the same. */
const TLS_ALERT_CODE = /ALERT|CERTIFICATE_REQUIRED/i;

/** A watch cancelled because its start revision was compacted, when etcd names the reason. */
const COMPACTED_CANCEL = /compact/i;
/** etcd 3.4 cancels a compacted watch with no reason at all. */
const REASONLESS_CANCEL = /watcher canceled:\s*$/i;

/** gRPC status codes that are the server's answer to the request itself. */
const ANSWER_STATUS = new Set([3, 5, 6, 7, 8, 9, 11, 12, 16]);

/**
 * Classifies an error from the etcd client (etcd3 or grpc-js). Pure: no side effects.
 * @internal
 */
export function classifyEtcdError(err: unknown): EtcdFailure {
  const reason = describeCause(err);
  if (err instanceof ClientClosedError) return { kind: 'closed', reason };
  if (isBrokenCircuitError(err)) return { kind: 'transport', reason, breakerOpen: true };
  if (err instanceof EtcdLeaseInvalidError) {
    return { kind: 'answer', code: 'lease-not-found', reason };
  }
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : '';
  if (UNAVAILABLE_SERVER.test(message)) return { kind: 'transport', reason, breakerOpen: false };
  for (const [pattern, code] of ANSWERS) {
    if (pattern.test(message)) return { kind: 'answer', code, reason };
  }
  const status = grpcStatus(err, message);
  if (/etcdserver:/.test(message) || (status !== undefined && ANSWER_STATUS.has(status))) {
    return { kind: 'answer', code: 'rejected', reason };
  }
  return { kind: 'transport', reason, breakerOpen: false };
}

/**
 * Which answer from etcd the error is (`undefined`: not an answer), e.g. `compacted` for a read at a
 * revision etcd compacted away, `future-revision` for one past its current revision. @internal
 */
export function etcdAnswerCode(err: unknown): EtcdAnswerCode | undefined {
  const failure = classifyEtcdError(err);
  return failure.kind === 'answer' ? failure.code : undefined;
}

/** Whether the error is an answer from etcd (see {@link classifyEtcdError}). @internal */
export function isEtcdAnswer(err: unknown): boolean {
  return classifyEtcdError(err).kind === 'answer';
}

/** Whether the error means etcd was not reached (see {@link classifyEtcdError}). @internal */
export function isTransportFailure(err: unknown): boolean {
  return classifyEtcdError(err).kind === 'transport';
}

/**
 * Whether a transport failure is a call's own deadline (`DEADLINE_EXCEEDED`): the caller gave the
 * call a short timeout, which says nothing about the connection. @internal
 */
export function isDeadlineExceeded(failure: EtcdFailure): boolean {
  return failure.kind === 'transport' && DEADLINE.test(failure.reason);
}

/**
 * Whether an `auth-failed` answer says no user name was sent ("user name is empty"): auth is on in
 * etcd, and the module has no credentials. @internal
 */
export function isMissingUserName(failure: EtcdFailure): boolean {
  return (
    failure.kind === 'answer' && failure.code === 'auth-failed' && EMPTY_USER.test(failure.reason)
  );
}

/**
 * What etcd's cancellation of a watch means. One place, so a new reason (an expired auth token,
 * answered by re-authenticating) is one more case here.
 * - `compacted`: the start revision was compacted (etcd 3.4 sends no reason, "Watcher canceled: ";
 *   newer etcd may name it): re-list at once.
 * - `other`: anything else, permission denied included: a disconnect, retried with backoff.
 * @internal
 */
export function classifyWatchCancel(err: unknown): 'compacted' | 'other' {
  const message = describeCause(err);
  return COMPACTED_CANCEL.test(message) || REASONLESS_CANCEL.test(message) ? 'compacted' : 'other';
}

/**
 * Whether the error says nothing about why: grpc-js's "No connection established. Last error: null"
 * when a connection failed without a recorded reason. An earlier, informative cause is kept over it.
 * @internal
 */
export function isReasonless(err: unknown): boolean {
  return err instanceof Error && REASONLESS.test(err.message);
}

/**
 * Whether an error from the client is a TLS certificate / handshake failure, which retrying does not
 * fix (its code, or grpc-js's message that wraps it). @internal
 */
export function isTlsFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && TLS_CODE.test(code)) return true;
  return TLS_MESSAGE.test(err.message);
}

/**
 * Whether a socket error of a TLS handshake is the server's alert (it wants a client certificate):
 * the peer speaks TLS. A plain HTTP/2 server answers bytes that are no TLS record instead ("wrong
 * version number"). @internal
 */
export function isTlsAlert(err: { code?: string }): boolean {
  return TLS_ALERT_CODE.test(err.code ?? '');
}

/** What a person can do about an answer from etcd, as a parenthesised hint ('' when nothing). @internal */
export function answerHint(code: EtcdAnswerCode): string {
  switch (code) {
    case 'no-space':
      return ' (etcd is out of space: compact and defragment it, then `etcdctl alarm disarm`)';
    case 'too-large':
      return " (the value exceeds etcd's --max-request-bytes, 1.5 MiB by default)";
    default:
      return '';
  }
}

/**
 * The gRPC status code: grpc-js puts it in `code` and at the start of the message
 * ("8 RESOURCE_EXHAUSTED: …"); etcd3 re-creates errors without `code`, so the message is read too.
 */
function grpcStatus(err: unknown, message: string): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'number') return code;
  const match = /^(\d{1,2}) [A-Z_]+:/.exec(message);
  return match ? Number(match[1]) : undefined;
}
