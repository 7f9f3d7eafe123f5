/** One readable line for an error from the etcd client or gRPC. @internal */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const message = (cause.message.split('\n')[0] ?? '')
      // gRPC wraps the socket error: "14 UNAVAILABLE: No connection established. Last error:
      // Error: connect ECONNREFUSED 127.0.0.1:2379. Resolution note: ."
      .replace(/\s*Resolution note:\s*\.?\s*$/, '')
      .replace(/Last error: Error: /, 'last error: ')
      // grpc-js when a connection failed without a recorded reason: say nothing rather than "null"
      .replace(/\.?\s*Last error: null\.?/i, '')
      .replace(/\.$/, '');
    return message.length > 0 ? message : cause.name;
  }
  if (cause === undefined) return 'no answer';
  return typeof cause === 'string' ? cause : (JSON.stringify(cause) ?? typeof cause);
}
