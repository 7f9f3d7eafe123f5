import { BrokenCircuitError } from 'cockatiel';
import {
  ClientClosedError,
  EtcdError,
  EtcdInvalidAuthTokenError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCInvalidArgumentError,
  GRPCResourceExhastedError,
  GRPCUnavailableError,
  castGrpcError,
} from 'etcd3';
import {
  answerHint,
  classifyEtcdError,
  classifyWatchCancel,
  isDeadlineExceeded,
  isMissingUserName,
  isReasonless,
  isTlsAlert,
  isTlsFailure,
} from '../../lib/client/etcd-errors.classifier.js';

/** A raw grpc-js error as the transport produces it (before etcd3 casts it). */
function grpcError(code: number, name: string, details: string): Error {
  return Object.assign(new Error(`${code} ${name}: ${details}`), { code, details });
}

describe('classifyEtcdError: transport failure vs answer from etcd, decided once', () => {
  const answers: Array<[string, unknown, string]> = [
    [
      'value over --max-request-bytes',
      new GRPCInvalidArgumentError('3 INVALID_ARGUMENT: etcdserver: request is too large'),
      'too-large',
    ],
    [
      'message over the gRPC limit (etcd answers RESOURCE_EXHAUSTED)',
      castGrpcError(
        grpcError(
          8,
          'RESOURCE_EXHAUSTED',
          'grpc: received message larger than max (2097175 vs. 2097152)',
        ),
      ),
      'too-large',
    ],
    [
      'NOSPACE alarm',
      new GRPCResourceExhastedError(
        '8 RESOURCE_EXHAUSTED: etcdserver: mvcc: database space exceeded',
      ),
      'no-space',
    ],
    [
      'permission denied',
      new EtcdPermissionDeniedError('7 PERMISSION_DENIED: etcdserver: permission denied'),
      'permission-denied',
    ],
    [
      'wrong password',
      castGrpcError(
        grpcError(
          3,
          'INVALID_ARGUMENT',
          'etcdserver: authentication failed, invalid user ID or password',
        ),
      ),
      'auth-failed',
    ],
    ['no user given', new EtcdError('etcdserver: user name is empty'), 'auth-failed'],
    [
      'expired token',
      new EtcdInvalidAuthTokenError('3 INVALID_ARGUMENT: etcdserver: invalid auth token'),
      'invalid-auth-token',
    ],
    ['lost lease', new EtcdLeaseInvalidError('7587'), 'lease-not-found'],
    [
      'lease not found',
      castGrpcError(grpcError(5, 'NOT_FOUND', 'etcdserver: requested lease not found')),
      'lease-not-found',
    ],
    [
      'compacted revision',
      castGrpcError(
        grpcError(11, 'OUT_OF_RANGE', 'etcdserver: mvcc: required revision has been compacted'),
      ),
      'compacted',
    ],
    [
      'future revision',
      castGrpcError(
        grpcError(11, 'OUT_OF_RANGE', 'etcdserver: mvcc: required revision is a future revision'),
      ),
      'future-revision',
    ],
    [
      'another etcd refusal',
      castGrpcError(
        grpcError(3, 'INVALID_ARGUMENT', 'etcdserver: too many operations in txn request'),
      ),
      'rejected',
    ],
    ['a watch cancel reason (string)', 'etcdserver: invalid auth token', 'invalid-auth-token'],
  ];

  it.each(answers)('%s is an answer (%#)', (_title, err, code) => {
    expect(classifyEtcdError(err)).toMatchObject({ kind: 'answer', code });
  });

  const transport: Array<[string, unknown, boolean]> = [
    [
      'refused connection',
      new GRPCUnavailableError(
        '14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2379',
      ),
      false,
    ],
    ['reset connection', castGrpcError(grpcError(14, 'UNAVAILABLE', 'read ECONNRESET')), false],
    ['deadline', new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'), false],
    ['no leader', castGrpcError(grpcError(14, 'UNAVAILABLE', 'etcdserver: no leader')), false],
    ['leader changed', new EtcdError('etcdserver: leader changed'), false],
    ['server timeout', new EtcdError('etcdserver: request timed out'), false],
    [
      'overloaded',
      castGrpcError(grpcError(8, 'RESOURCE_EXHAUSTED', 'etcdserver: too many requests')),
      false,
    ],
    ['our own bounded wait', new Error('no answer within 5000 ms'), false],
    ['open breaker', new BrokenCircuitError(), true],
  ];

  it.each(transport)('%s is a transport failure', (_title, err, breakerOpen) => {
    expect(classifyEtcdError(err)).toMatchObject({ kind: 'transport', breakerOpen });
  });

  it('a closed client is neither', () => {
    expect(classifyEtcdError(new ClientClosedError('KV'))).toMatchObject({ kind: 'closed' });
  });

  it("keeps etcd's reason as one readable line", () => {
    const failure = classifyEtcdError(
      new GRPCInvalidArgumentError('3 INVALID_ARGUMENT: etcdserver: request is too large\n  at x'),
    );
    expect(failure.reason).toBe('3 INVALID_ARGUMENT: etcdserver: request is too large');
  });
});

describe('the narrower questions, answered by the classifier too', () => {
  it("isDeadlineExceeded: a call's own deadline, not any other transport failure nor an answer", () => {
    const deadline = new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded');
    expect(isDeadlineExceeded(classifyEtcdError(deadline))).toBe(true);
    const reset = castGrpcError(grpcError(14, 'UNAVAILABLE', 'read ECONNRESET'));
    expect(isDeadlineExceeded(classifyEtcdError(reset))).toBe(false);
    const tooLarge = new EtcdError('etcdserver: request is too large');
    expect(isDeadlineExceeded(classifyEtcdError(tooLarge))).toBe(false);
  });

  it('isMissingUserName: auth is on and no user was sent, not a wrong password', () => {
    const empty = new EtcdError('etcdserver: user name is empty');
    expect(isMissingUserName(classifyEtcdError(empty))).toBe(true);
    const wrong = new EtcdError('etcdserver: authentication failed, invalid user ID or password');
    expect(isMissingUserName(classifyEtcdError(wrong))).toBe(false);
  });

  it.each([
    ['etcd 3.4: a cancel without a reason', new Error('Watcher canceled: '), 'compacted'],
    [
      'a newer etcd naming the compaction',
      new Error('Watcher canceled: etcdserver: mvcc: required revision has been compacted'),
      'compacted',
    ],
    ['permission denied', new Error('Watcher canceled: etcdserver: permission denied'), 'other'],
    ['a disconnect', new Error('14 UNAVAILABLE: Connection dropped'), 'other'],
  ] as const)('classifyWatchCancel: %s is %s', (_title, err, expected) => {
    expect(classifyWatchCancel(err)).toBe(expected);
  });

  it("isReasonless: grpc-js's failure without a recorded reason, not one that names it", () => {
    expect(
      isReasonless(new Error('14 UNAVAILABLE: No connection established. Last error: null')),
    ).toBe(true);
    expect(
      isReasonless(
        new Error(
          '14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED',
        ),
      ),
    ).toBe(false);
    expect(isReasonless('Last error: null')).toBe(false); // not an error object
  });

  it('answerHint: what to do about a full database or a value too large, nothing otherwise', () => {
    expect(answerHint('no-space')).toMatch(/etcdctl alarm disarm/);
    expect(answerHint('too-large')).toMatch(/--max-request-bytes/);
    expect(answerHint('permission-denied')).toBe('');
  });

  it.each([
    [
      'grpc-js wrapping an untrusted certificate',
      new Error('14 UNAVAILABLE: ... last error: unable to verify the first certificate'),
    ],
    ['a self-signed certificate', new Error('self-signed certificate in certificate chain')],
    ['an OpenSSL failure', new Error('SSL routines:ssl3_read_bytes:sslv3 alert bad certificate')],
    [
      "node's certificate code",
      Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' }),
    ],
    [
      "node's TLS code with a plain message",
      Object.assign(new Error('handshake failed'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }),
    ],
  ] as const)('isTlsFailure: %s is a TLS failure (retrying does not fix it)', (_title, err) => {
    expect(isTlsFailure(err)).toBe(true);
  });

  it.each([
    ['a refused connection', new Error('connect ECONNREFUSED 127.0.0.1:2379')],
    ['a deadline', new Error('4 DEADLINE_EXCEEDED: Deadline exceeded')],
    ['a string naming a certificate (not an error object)', 'certificate'],
    ['an answer from etcd', new Error('etcdserver: permission denied')],
  ] as const)('isTlsFailure: %s is not', (_title, err) => {
    expect(isTlsFailure(err)).toBe(false);
  });

  it("isTlsAlert: a server's handshake alert is TLS, a plain HTTP/2 server's bytes are not", () => {
    expect(isTlsAlert({ code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' })).toBe(true);
    expect(isTlsAlert({ code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' })).toBe(true);
    expect(isTlsAlert({ code: 'ERR_SSL_WRONG_VERSION_NUMBER' })).toBe(false);
    expect(isTlsAlert({})).toBe(false);
  });
});
