package flow

import (
	"sync"

	"github.com/sluicehq/sluice/internal/repoconfig"
)

// configCache keeps the sluice.yaml of the commits planned last. Every
// run of a merge request reads it at the same head and base, and a
// thousand projects make a file that takes milliseconds to read: read
// once per run, it made the runs of one merge request cost the square of
// its projects. What a commit holds never changes, so neither does what
// is read from it; only what was read is kept (a failure to read is not).
type configCache struct {
	mu sync.Mutex
	m  map[string]cachedConfig
}

type cachedConfig struct {
	cfg *repoconfig.Config
	// why is the reason there are no rules to read, for baseConfig.
	why string
}

// configsKept bounds the cache: a handful of merge requests planned at
// once, each with its head and base.
const configsKept = 16

// get returns what read returned for key (a kind, a repository and a
// commit), calling it only the first time. The configuration returned is
// shared: callers only read it.
func (c *configCache) get(key string, read func() (*repoconfig.Config, string, error)) (*repoconfig.Config, string, error) {
	c.mu.Lock()
	hit, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return hit.cfg, hit.why, nil
	}
	cfg, why, err := read()
	if err != nil {
		return nil, "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= configsKept {
		c.m = map[string]cachedConfig{}
	}
	c.m[key] = cachedConfig{cfg, why}
	return cfg, why, nil
}
