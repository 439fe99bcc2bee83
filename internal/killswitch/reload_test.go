package killswitch

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// heldReloadKey marks the context of the reload that the afterRead hook
// holds between its read and its publish.
type heldReloadKey struct{}

// ownReloadWait is how long the test lets an Engage or Release run while
// an older reload is held. With ordered reloads the call blocks for the
// whole wait, so the wait adds to the test time. Without ordering the
// call finishes in a few milliseconds, well inside the wait.
const ownReloadWait = 200 * time.Millisecond

// TestConcurrentReloadKeepsCuts holds a reload after it read the table,
// then engages or releases a cut. When Engage or Release returns, the cut
// must be visible as engaged or released: the held reload, which read the
// table before the change, must not publish afterwards and undo it.
func TestConcurrentReloadKeepsCuts(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		sw, err := Open(ctx, b.New(t), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		held, resume := make(chan struct{}), make(chan struct{})
		sw.afterRead = func(ctx context.Context) {
			if ctx.Value(heldReloadKey{}) != nil {
				held <- struct{}{}
				<-resume
			}
		}
		engaged := func(id int64) bool {
			return slices.ContainsFunc(sw.Cuts(), func(c *Cut) bool { return c.ID == id })
		}

		// raceReload runs change while an older reload is held after its
		// read, and releases the held reload once change returned or the
		// wait passed.
		raceReload := func(t *testing.T, change func() error) {
			t.Helper()
			reloaded := make(chan error, 1)
			go func() { reloaded <- sw.Reload(context.WithValue(ctx, heldReloadKey{}, true)) }()
			<-held
			changed := make(chan error, 1)
			go func() { changed <- change() }()
			var changeErr error
			select {
			case changeErr = <-changed:
				changed = nil
			case <-time.After(ownReloadWait):
			}
			resume <- struct{}{}
			if err := <-reloaded; err != nil {
				t.Fatalf("held reload: %v", err)
			}
			if changed != nil {
				changeErr = <-changed
			}
			if changeErr != nil {
				t.Fatal(changeErr)
			}
		}

		t.Run("engage", func(t *testing.T) {
			c := &Cut{Mode: Full, Scope: "partner:p1", Reason: "drill", EngagedBy: "test"}
			raceReload(t, func() error { return sw.Engage(ctx, c) })
			if !engaged(c.ID) {
				t.Errorf("cut %d not engaged when Engage returned", c.ID)
			}
			if sw.Check("p1", Inbound, nil) == nil {
				t.Errorf("Check lets partner p1 through after Engage returned")
			}
		})
		t.Run("release", func(t *testing.T) {
			c := &Cut{Mode: Full, Scope: "partner:p2", Reason: "drill", EngagedBy: "test"}
			if err := sw.Engage(ctx, c); err != nil {
				t.Fatal(err)
			}
			raceReload(t, func() error {
				_, err := sw.Release(ctx, c.ID, "test")
				return err
			})
			if engaged(c.ID) {
				t.Errorf("cut %d still engaged when Release returned", c.ID)
			}
		})
	})
}
