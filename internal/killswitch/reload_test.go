package killswitch

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// TestConcurrentReloadKeepsCuts engages and releases cuts while other
// goroutines reload. Every Engage and Release must leave the cuts it
// changed visible when it returns: a reload that read the table earlier
// must not publish after it and undo the change.
func TestConcurrentReloadKeepsCuts(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sw, err := Open(ctx, b.New(t), nil, nil)
		if err != nil {
			t.Fatal(err)
		}

		// Engaged cuts that never match the checks below make each
		// reload scan longer, which widens the window between its read
		// and its publish where an unordered reload goes stale.
		const filler = 20
		for i := range filler {
			var id int64
			err := sw.db.QueryRowContext(ctx, sqlEngage, string(Full), fmt.Sprintf("route:Claim/$op%d", i),
				string(Outbound), "filler", "test", int64(i)).Scan(&id)
			if err != nil {
				t.Fatal(err)
			}
		}

		// Without ordered reloads a stale publish is rare, so the workers
		// run for a fixed time, not a fixed number of rounds.
		const reloaders, engagers, budget = 4, 4, 3 * time.Second
		deadline := time.Now().Add(budget)
		var background sync.WaitGroup
		for range reloaders {
			background.Go(func() {
				for ctx.Err() == nil {
					if err := sw.Reload(ctx); err != nil && ctx.Err() == nil {
						t.Errorf("background reload: %v", err)
						return
					}
				}
			})
		}

		engaged := func(id int64) bool {
			return slices.ContainsFunc(sw.Cuts(), func(c *Cut) bool { return c.ID == id })
		}
		var lost, revived sync.Map
		var workers sync.WaitGroup
		for w := range engagers {
			workers.Go(func() {
				partner := fmt.Sprintf("p%d", w)
				for time.Now().Before(deadline) {
					c := &Cut{Mode: Full, Scope: "partner:" + partner, Reason: "drill", EngagedBy: "test"}
					if err := sw.Engage(ctx, c); err != nil {
						t.Errorf("engage: %v", err)
						return
					}
					if !engaged(c.ID) || sw.Check(partner, Inbound, nil) == nil {
						lost.Store(c.ID, true)
					}
					if _, err := sw.Release(ctx, c.ID, "test"); err != nil {
						t.Errorf("release %d: %v", c.ID, err)
						return
					}
					if engaged(c.ID) {
						revived.Store(c.ID, true)
					}
				}
			})
		}
		workers.Wait()
		cancel()
		background.Wait()

		lost.Range(func(id, _ any) bool {
			t.Errorf("cut %d not engaged when Engage returned", id)
			return true
		})
		revived.Range(func(id, _ any) bool {
			t.Errorf("cut %d still engaged when Release returned", id)
			return true
		})
	})
}
