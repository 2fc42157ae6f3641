// Caches keyed by the GPU objects they bind.

interface CacheNode<V> {
  next: WeakMap<object, CacheNode<V>>;
  value?: V;
}

/**
 * Values (bind groups) keyed by a tuple of objects (the buffers bound), built on
 * first use and held weakly: a steady loop over the same buffers builds nothing.
 */
export class KeyedCache<V> {
  private readonly root: CacheNode<V> = { next: new WeakMap() };

  get(keys: readonly object[], make: () => V): V {
    let node = this.root;
    for (const key of keys) {
      let child = node.next.get(key);
      if (!child) node.next.set(key, (child = { next: new WeakMap() }));
      node = child;
    }
    node.value ??= make();
    return node.value;
  }
}
