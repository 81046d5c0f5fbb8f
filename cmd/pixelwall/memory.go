package main

import (
	"context"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixelwall/pixelwall/cmd/pixelwall/internal/service"
)

// memoryHeadroom is how far the Go runtime's memory may grow past what it
// holds after the lists are compiled (lists, log queue, buffers) before the
// garbage collector works harder to stay under it. GOGC alone lets the heap
// double; a lower GOGC would cap it too, but costs CPU at every load; the
// limit only bites when memory actually grows. The README's memory section
// has the measurements behind the figure.
const memoryHeadroom = 30 << 20

// memoryGovernor keeps the runtime's soft memory limit at what the process
// holds after a compile plus memoryHeadroom, or higher when the live heap
// grows, unless GOMEMLIMIT is set.
type memoryGovernor struct {
	floor atomic.Int64
	// cap is the most the limit may be (a cgroup's limit, less what the
	// runtime does not count); 0: none.
	cap func() int64
}

// aroundCompile runs a compile of the lists and its publishing: compiling
// makes much short-lived garbage, and on a reload the new matcher is built
// beside the old one, so the collector runs often meanwhile, and once the
// new lists are published the memory of the old ones goes back to the
// system; then the floor is what the process holds.
func (g *memoryGovernor) aroundCompile(compile func()) {
	gc := debug.SetGCPercent(20)
	compile()
	debug.SetGCPercent(gc)
	debug.FreeOSMemory()
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	s := []rtmetrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	rtmetrics.Read(s)
	g.floor.Store(int64(s[0].Value.Uint64()-s[1].Value.Uint64()) + memoryHeadroom)
	g.adjust()
}

// adjust keeps the limit at the floor, or at 1.5× the live heap when that
// has grown (a DNS cache filling up, thousands of connections): the
// collector then runs as with GOGC=50 at worst, never without end, which a
// fixed limit under a grown live heap would make it do. Under a cgroup
// memory limit (systemd's MemoryMax=, a container's) it stays below that:
// collecting hard beats being killed.
func (g *memoryGovernor) adjust() {
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	live := int64(s[0].Value.Uint64())
	limit := max(g.floor.Load(), live+live/2+16<<20)
	if g.cap != nil {
		if c := g.cap(); c > 0 {
			limit = min(limit, c)
		}
	}
	debug.SetMemoryLimit(limit)
}

// cgroupMemoryCap is nine tenths of the cgroup's memory limit, 0 when none
// is set: the rest is for what the Go runtime does not count (the binary's
// own pages, thread stacks). Read once: the limit is the process's.
var cgroupMemoryCap = sync.OnceValue(func() int64 {
	if l, ok := service.MemoryLimit("/"); ok {
		return l / 10 * 9
	}
	return 0
})

// run re-adjusts the limit every few seconds until ctx is done.
func (g *memoryGovernor) run(ctx context.Context) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if g.floor.Load() > 0 {
				g.adjust()
			}
		}
	}
}
