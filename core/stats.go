package core

// CachedUsers is how many users the cache holds (the server's metrics read
// it at each scrape: one shard lock at a time, never all at once).
func (c *Core) CachedUsers() int {
	n := 0
	for i := range c.shard {
		s := &c.shard[i]
		s.mu.RLock()
		n += len(s.users)
		s.mu.RUnlock()
	}
	return n
}
