// @peculiar/x509 resolves its algorithm providers through tsyringe, which refuses to load
// unless the (stage-1) Reflect metadata API exists. That API is only used here to store
// constructor parameter types, so a small WeakMap-backed version is enough and saves a
// dependency. It must be imported before @peculiar/x509; it leaves an existing one alone.
type Key = unknown;
const store = new WeakMap<object, Map<string | symbol | undefined, Map<Key, unknown>>>();

function table(target: object, prop: string | symbol | undefined, create: boolean): Map<Key, unknown> | undefined {
  let byProp = store.get(target);
  if (!byProp) {
    if (!create) return undefined;
    byProp = new Map();
    store.set(target, byProp);
  }
  let t = byProp.get(prop);
  if (!t && create) {
    t = new Map();
    byProp.set(prop, t);
  }
  return t;
}

interface ReflectMetadataApi {
  getMetadata?: (key: Key, target: object, prop?: string | symbol) => unknown;
  getOwnMetadata?: (key: Key, target: object, prop?: string | symbol) => unknown;
  defineMetadata?: (key: Key, value: unknown, target: object, prop?: string | symbol) => void;
  hasMetadata?: (key: Key, target: object, prop?: string | symbol) => boolean;
  metadata?: (key: Key, value: unknown) => (target: object, prop?: string | symbol) => void;
}

const R = Reflect as unknown as ReflectMetadataApi;
if (typeof R.getMetadata !== 'function') {
  const getOwn = (key: Key, target: object, prop?: string | symbol): unknown => table(target, prop, false)?.get(key);
  const get = (key: Key, target: object, prop?: string | symbol): unknown => {
    for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
      const m = table(t, prop, false);
      if (m?.has(key)) return m.get(key);
    }
    return undefined;
  };
  const define = (key: Key, value: unknown, target: object, prop?: string | symbol): void => {
    table(target, prop, true)?.set(key, value);
  };
  Object.assign(Reflect, {
    getOwnMetadata: getOwn,
    getMetadata: get,
    defineMetadata: define,
    hasMetadata: (key: Key, target: object, prop?: string | symbol): boolean => get(key, target, prop) !== undefined,
    metadata: (key: Key, value: unknown) => (target: object, prop?: string | symbol) => define(key, value, target, prop),
  });
}

export {};
