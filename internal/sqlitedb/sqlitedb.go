// Package sqlitedb opens a SQLite database file through internal/storage.
//
// Deprecated: use storage.Open, which also opens PostgreSQL. This package
// remains while callers move over.
package sqlitedb

import (
	"context"

	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// Open opens (creating if needed) the SQLite file at path with the
// settings storage.Open uses. The directory must exist.
func Open(ctx context.Context, path string) (*storage.DB, error) {
	return storage.Open(ctx, "sqlite://"+path)
}
