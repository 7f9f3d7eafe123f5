import type { AdminContext } from '../../lib/admin/admin-context.js';
import { FleetReader } from '../../lib/admin/fleet-reader.js';
import type { FleetView } from '../../lib/admin/fleet-view.js';
import { UnknownServiceError } from '../../lib/errors/unknown-service.error.js';

/** An admin context whose etcd holds `kvs`, counting the direct reads. */
function contextWith(kvs: Array<{ key: string; value: string }>) {
  const reads: string[] = [];
  const ctx = {
    prefixes: { registry: '/services/', status: '/config-status/' },
    async list(prefix: string) {
      reads.push(prefix);
      return kvs
        .filter(kv => kv.key.startsWith(prefix))
        .map(kv => ({
          key: Buffer.from(kv.key),
          value: Buffer.from(kv.value),
          lease: '7',
          mod_revision: '5',
        }));
    },
  } as unknown as AdminContext;
  return { ctx, reads };
}

/** A live view that has not seen anything yet (its informer lags the registration). */
const laggingView = { entries: async () => [] } as unknown as FleetView;

describe('FleetReader over a live view', () => {
  it('asks etcd itself before calling a service unknown when the view has nothing for it', async () => {
    const { ctx, reads } = contextWith([
      { key: '/services/shop/shop-1', value: JSON.stringify({ host: '127.0.0.1', port: 3000 }) },
    ]);
    const fleet = await new FleetReader(ctx, laggingView).fleet('shop');
    expect(fleet.instances.map(i => i.instanceId)).toEqual(['shop-1']);
    expect(reads).toEqual(['/services/shop/', '/config-status/shop/']);
  });

  it('still says unknown when etcd has nothing either', async () => {
    const { ctx } = contextWith([]);
    await expect(new FleetReader(ctx, laggingView).fleet('nope')).rejects.toBeInstanceOf(
      UnknownServiceError,
    );
  });
});
