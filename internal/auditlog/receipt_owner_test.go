package auditlog

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// TestPartnerReceiptOwner checks that PartnerReceipt returns a receipt only
// for an entry of the partner's exchanges, and ErrNotFound for any other
// entry, a control entry naming the partner included.
func TestPartnerReceiptOwner(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, _, keys := newTestLogOn(t, b, func(o *Options) { o.CheckpointEvery = 3 })
		ctx := context.Background()
		appendN(t, l, 2) // index 0 of demo-ehr, index 1 of other-ehr
		control := testEntry(2, 16)
		control.Phase, control.Partner = record.PhaseControl, "demo-ehr"
		if _, err := l.AppendEntry(ctx, control); err != nil {
			t.Fatal(err)
		}

		tests := []struct {
			name    string
			index   int64
			partner string
			wantErr error
		}{
			{"own entry", 0, "demo-ehr", nil},
			{"other partner's entry", 1, "demo-ehr", ErrNotPartyToEntry},
			{"control entry naming the partner", 2, "demo-ehr", ErrNotPartyToEntry},
			{"no partner", 0, "", ErrNotPartyToEntry},
			{"beyond the log", 3, "demo-ehr", ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p, err := l.PartnerReceipt(ctx, tt.index, tt.partner)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
					if !errors.Is(err, ErrNotFound) {
						t.Errorf("err = %v does not wrap ErrNotFound", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if _, err := CheckProof(p, keys.verifier); err != nil {
					t.Error(err)
				}
			})
		}
	})
}
