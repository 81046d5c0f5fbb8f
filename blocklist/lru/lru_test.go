package lru

import "testing"

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := New[string, int](2)
	var evicted []string
	c.OnEvict = func(k string, _ int) { evicted = append(evicted, k) }
	c.Add("a", 1)
	c.Add("b", 2)
	if _, ok := c.Get("a"); !ok { // a is now the most recent
		t.Fatal("Get(a) missed")
	}
	c.Add("c", 3) // drops b
	if _, ok := c.Peek("b"); ok {
		t.Error("b survived; want it dropped as least recently used")
	}
	if v, ok := c.Peek("a"); !ok || v != 1 {
		t.Errorf("Peek(a) = %d, %v; want 1, true", v, ok)
	}
	if len(evicted) != 1 || evicted[0] != "b" {
		t.Errorf("evicted %v, want [b]", evicted)
	}
	c.Add("a", 10) // update in place, no eviction
	if v, _ := c.Get("a"); v != 10 || c.Len() != 2 {
		t.Errorf("after update: a = %d, Len = %d; want 10, 2", v, c.Len())
	}
	if !c.Remove("a") || c.Remove("a") || c.Len() != 1 {
		t.Errorf("Remove: Len = %d, want 1", c.Len())
	}
}
