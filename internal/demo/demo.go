// Package demo runs the main job end to end in one process: it starts the
// gateway in development mode with the built-in payer service on loopback
// ephemeral ports, then plays the provider's EHR. The EHR obtains a token
// over mutual TLS, submits every PAS request bundle, and inquires about each
// accepted claim. Every exchange must come back successful and be found in
// the exchange record.
package demo

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

//go:embed bundles/*.json
var shipped embed.FS

// maxBundleBytes caps one bundle file read from disk.
const maxBundleBytes = 64 << 20

// Options configures Run.
type Options struct {
	// BundlesDir holds the request bundles to submit (*.json, not
	// recursive); empty means the PAS examples shipped in the binary.
	BundlesDir string
	// Logger receives the gateway's logs; nil discards them.
	Logger *slog.Logger
}

// Row is one exchange the EHR performed.
type Row struct {
	File      string         `json:"file"`
	Step      string         `json:"step"` // token, submit or inquire
	Claim     string         `json:"claim,omitempty"`
	Items     []ItemDecision `json:"items,omitempty"`
	Status    int            `json:"status"`
	LatencyMS float64        `json:"latency_ms"`
	Record    int64          `json:"record,omitempty"`
	OK        bool           `json:"ok"`
	Error     string         `json:"error,omitempty"`

	exchangeID string
}

// Result is the outcome of a demo run.
type Result struct {
	Exchanges int   `json:"exchanges"`
	Succeeded int   `json:"succeeded"`
	Failed    int   `json:"failed"`
	Rows      []Row `json:"rows"`
}

// OK reports whether every exchange succeeded and was recorded.
func (r *Result) OK() bool { return r.Failed == 0 && r.Exchanges > 0 }

// bundle is one input file.
type bundle struct {
	name string
	data []byte
}

// Run performs the demo. An error means the demo itself could not run; a
// failed exchange is a failed row, not an error.
func Run(ctx context.Context, opts Options) (*Result, error) {
	bundles, err := loadBundles(opts.BundlesDir)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "gatehouse-demo-")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(tmp)

	cfg, layout, _, err := app.DevConfig(filepath.Join(tmp, "data"), "127.0.0.1:0", "")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	rt, err := app.Start(ctx, cfg, app.Options{Logger: opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("demo: start gateway: %w", err)
	}
	defer rt.Close(context.WithoutCancel(ctx))

	ehr, err := ehrclient.DevPartner(layout, rt.PublicURL, app.DevScopes)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	defer ehr.CloseIdle()

	res := &Result{}
	res.add(tokenRow(ctx, ehr))
	for _, b := range bundles {
		row, accepted := submitRow(ctx, ehr, b)
		res.add(row)
		if accepted {
			res.add(inquireRow(ctx, ehr, b))
		}
	}
	if err := checkRecorded(ctx, rt.Records, res); err != nil {
		return nil, err
	}
	return res, nil
}

func (r *Result) add(row Row) {
	r.Rows = append(r.Rows, row)
	r.Exchanges++
	if row.OK {
		r.Succeeded++
	} else {
		r.Failed++
	}
}

// loadBundles reads *.json from dir, or the shipped bundles when dir is
// empty, sorted by name.
func loadBundles(dir string) ([]bundle, error) {
	var fsys fs.FS = shipped
	pattern := "bundles/*.json"
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("demo: bundles directory: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("demo: bundles directory %s is not a directory", dir)
		}
		fsys, pattern = os.DirFS(dir), "*.json"
	}
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("demo: no *.json files in %s", dir)
	}
	sort.Strings(names)
	var out []bundle
	for _, n := range names {
		data, err := readCapped(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("demo: %s: %w", n, err)
		}
		out = append(out, bundle{name: filepath.Base(n), data: data})
	}
	return out, nil
}

func readCapped(fsys fs.FS, name string) ([]byte, error) {
	st, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxBundleBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxBundleBytes)
	}
	return fs.ReadFile(fsys, name)
}

// checkRecorded marks as failed every row whose exchange is missing from the
// record store, or recorded with another status than the EHR received.
func checkRecorded(ctx context.Context, store record.Store, res *Result) error {
	reader, ok := store.(record.Reader)
	if !ok {
		return errors.New("demo: the record store cannot be read back")
	}
	for i := range res.Rows {
		row := &res.Rows[i]
		if row.exchangeID == "" || row.Record == 0 {
			continue
		}
		entries, err := reader.List(ctx, record.Filter{ExchangeID: row.exchangeID})
		if err != nil {
			return fmt.Errorf("demo: reading the exchange record: %w", err)
		}
		if !recorded(entries, row) && row.OK {
			row.OK, row.Error = false, "exchange not found in the record with status "+strconv.Itoa(row.Status)
			res.Succeeded--
			res.Failed++
		}
	}
	return nil
}

func recorded(entries []record.Entry, row *Row) bool {
	for _, e := range entries {
		if e.Seq == row.Record && e.Status == row.Status {
			return true
		}
	}
	return false
}

// sanitize keeps a message on one line.
func sanitize(s string) string { return strings.Join(strings.Fields(s), " ") }
