// Package lru is a bounded map that forgets its least recently used
// entries: the one LRU of the module, for caches and trackers that must not
// grow without bound.
package lru

import "container/list"

// Cache maps keys to values and holds at most its capacity of them; adding
// beyond it drops the least recently used entry. It is not safe for
// concurrent use: callers hold their own lock, which they usually need
// anyway to update a value they got.
type Cache[K comparable, V any] struct {
	max   int
	ll    *list.List // of *entry[K, V]; front is most recent
	items map[K]*list.Element
	// OnEvict, when set, is called with every entry dropped for room.
	OnEvict func(K, V)
}

type entry[K comparable, V any] struct {
	key K
	val V
}

// New returns an empty Cache holding at most capacity entries (at least one).
func New[K comparable, V any](capacity int) *Cache[K, V] {
	return &Cache[K, V]{max: max(capacity, 1), ll: list.New(), items: make(map[K]*list.Element)}
}

// Get returns the value for key and marks it most recently used.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*entry[K, V]).val, true
}

// Peek returns the value for key without marking it used.
func (c *Cache[K, V]) Peek(key K) (V, bool) {
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	return el.Value.(*entry[K, V]).val, true
}

// Add sets key's value, marks it most recently used, and drops the least
// recently used entry when the cache is over its capacity.
func (c *Cache[K, V]) Add(key K, val V) {
	if el, ok := c.items[key]; ok {
		el.Value.(*entry[K, V]).val = val
		c.ll.MoveToFront(el)
		return
	}
	c.items[key] = c.ll.PushFront(&entry[K, V]{key, val})
	for c.ll.Len() > c.max {
		e := c.ll.Remove(c.ll.Back()).(*entry[K, V])
		delete(c.items, e.key)
		if c.OnEvict != nil {
			c.OnEvict(e.key, e.val)
		}
	}
}

// Remove drops key; it reports whether it was there.
func (c *Cache[K, V]) Remove(key K) bool {
	el, ok := c.items[key]
	if ok {
		c.ll.Remove(el)
		delete(c.items, key)
	}
	return ok
}

// Len is the number of entries.
func (c *Cache[K, V]) Len() int { return c.ll.Len() }
