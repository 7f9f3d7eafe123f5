/**
 * Sets `object[key] = value` as an own, enumerable data property, whatever the key: `__proto__`
 * becomes a property like any other instead of replacing the object's prototype. For objects whose
 * keys come from outside (etcd keys, a snapshot file).
 */
export function setOwn<T>(object: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') {
    Object.defineProperty(object, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    object[key] = value;
  }
}

/** `object[key]` when it is the object's own property (never one inherited from its prototype). */
export function getOwn<T>(object: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}
