import { describeCause } from '../../lib/common/describe-cause.js';

describe('describeCause: one readable line for a client error', () => {
  it('keeps the socket error grpc-js wraps', () => {
    expect(
      describeCause(
        new Error(
          '14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2379. Resolution note: .',
        ),
      ),
    ).toBe(
      '14 UNAVAILABLE: No connection established. last error: connect ECONNREFUSED 127.0.0.1:2379',
    );
  });

  it('never says "Last error: null" (grpc-js failing without a reason): nothing rather than null', () => {
    const line = describeCause(
      new Error('14 UNAVAILABLE: No connection established. Last error: null. Resolution note: .'),
    );
    expect(line).toBe('14 UNAVAILABLE: No connection established');
  });
});
