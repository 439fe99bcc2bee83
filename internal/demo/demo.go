// Package demo runs the main job end to end, in both directions, in one
// process. It starts the gateway in development mode with the built-in
// payer service on loopback ephemeral ports, and an EHR simulator
// (internal/ehrsim) with its own key, certificates and JWKS URL, which
// the gateway fetches its keys from.
//
// The EHR obtains a token over mutual TLS, subscribes to the PAS topic
// and receives the handshake, submits every PAS request bundle and
// inquires about each accepted claim. The first submission with a pended
// item goes round the loop before the next is sent. An administrator
// decides the item through the admin listener. The payer service's
// notification leaves through the gateway's outbound listener and reaches
// the EHR's own mutual-TLS endpoint, where it must pass strict mode. The
// EHR checks the Subscription's event counter ($status), and a final
// inquiry must return the decision. Every exchange must succeed and be
// found in the exchange record, inbound and outbound alike.
package demo

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

//go:embed bundles/*.json
var shipped embed.FS

// ShippedBundle returns the content of one request bundle shipped in the
// binary, by file name, such as
// pas-2.2.1-ReferralAuthorizationBundleExample.json.
func ShippedBundle(name string) ([]byte, error) {
	return shipped.ReadFile(path.Join("bundles", name))
}

// ShippedBundles returns the content of every request bundle shipped in
// the binary, in file name order.
func ShippedBundles() ([][]byte, error) {
	bundles, err := loadBundles("")
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(bundles))
	for i, b := range bundles {
		out[i] = b.data
	}
	return out, nil
}

// maxBundleBytes caps one bundle file read from disk.
const maxBundleBytes = 64 << 20

// Options configures Run.
type Options struct {
	// BundlesDir holds the request bundles to submit (*.json, not
	// recursive); empty means the PAS examples shipped in the binary.
	BundlesDir string
	// Logger receives the gateway's logs; nil discards them.
	Logger *slog.Logger
	// KeepDir, when set, is a new directory to run in and keep, so that
	// the gateway's data directory (KeepDir/data), its exchange record
	// included, can be read after the demo. Otherwise the demo runs in a
	// temporary directory and removes it.
	KeepDir string
}

// Row is one step of the demo: an exchange the EHR made, a notification
// it received, or an administrator's action.
type Row struct {
	File string `json:"file"`
	// Step is token, subscribe, handshake, submit, inquire, pended,
	// decide, notification, status or inquire-final.
	Step string `json:"step"`
	// Direction is inbound (EHR to payer), outbound (payer to EHR) or
	// admin (the admin listener, which the exchange record does not
	// cover).
	Direction string         `json:"direction"`
	Claim     string         `json:"claim,omitempty"`
	Items     []ItemDecision `json:"items,omitempty"`
	// Subscription is the Subscription id of the round-trip steps.
	Subscription string `json:"subscription,omitempty"`
	// Event is the event number a notification carried, or the counter
	// $status returned.
	Event int64 `json:"event,omitempty"`
	// Strict reports that a notification passed strict mode at the EHR.
	Strict    bool    `json:"strict,omitempty"`
	Detail    string  `json:"detail,omitempty"`
	Status    int     `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	Record    int64   `json:"record,omitempty"`
	OK        bool    `json:"ok"`
	Error     string  `json:"error,omitempty"`

	exchangeID string
	preAuthRef string
	bundle     *bundle
}

// Result is the outcome of a demo run.
type Result struct {
	// Exchanges counts the rows: every step, admin calls included.
	Exchanges int `json:"exchanges"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	// RecordedInbound and RecordedOutbound count the successful rows
	// found in the exchange record, per direction.
	RecordedInbound  int   `json:"recorded_inbound"`
	RecordedOutbound int   `json:"recorded_outbound"`
	Rows             []Row `json:"rows"`
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
	tmp := opts.KeepDir
	if tmp == "" {
		if tmp, err = os.MkdirTemp("", "gatehouse-demo-"); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		defer os.RemoveAll(tmp)
	} else if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("demo: --keep: %w", err)
	}

	w, err := startWorld(ctx, tmp, opts.Logger, bundles)
	if err != nil {
		return nil, err
	}
	defer w.close(context.WithoutCancel(ctx))
	ehr := w.sim.Client()

	res := &Result{}
	res.add(tokenRow(ctx, ehr))
	subID := w.subscribe(ctx, res)
	decided := false
	for i := range bundles {
		row, accepted := submitRow(ctx, ehr, &bundles[i])
		res.add(row)
		if !accepted {
			continue
		}
		res.add(inquireRow(ctx, ehr, &bundles[i]))
		// The first request that pends an item goes round the whole loop
		// before the next is submitted, because a later request may revise
		// it and take the item out of the work queue.
		if item := pendedItem(row); subID != "" && !decided && item > 0 {
			w.roundTrip(ctx, res, subID, row, item)
			decided = true
		}
	}
	if subID != "" && !decided {
		res.add(Row{File: "-", Step: "pended", Direction: "admin",
			Error: "no submitted request had a pended item, so the payer had nothing to decide and notify"})
	}
	if err := checkRecorded(ctx, w.rt.Records, res); err != nil {
		return nil, err
	}
	res.RecordedInbound, res.RecordedOutbound = res.recordedRows()
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
		if row.exchangeID == "" || (row.Direction == "inbound" && row.Record == 0) {
			continue
		}
		entries, err := reader.List(ctx, record.Filter{ExchangeID: row.exchangeID})
		if err != nil {
			return fmt.Errorf("demo: reading the exchange record: %w", err)
		}
		if !recorded(entries, row) && row.OK {
			row.OK, row.Error = false, row.Direction+" exchange not found in the record with status "+strconv.Itoa(row.Status)
			res.Succeeded--
			res.Failed++
		}
	}
	return nil
}

// recorded finds the row's entry. An inbound row has its sequence number
// from the X-Gatehouse-Record header. An outbound row gets it here, from
// the entry of its exchange id, because the gateway does not send the
// header to partners.
func recorded(entries []record.Entry, row *Row) bool {
	for _, e := range entries {
		if e.Direction != row.Direction || e.Status != row.Status {
			continue
		}
		switch {
		case row.Direction == "outbound" && e.UpstreamState == row.Status:
			row.Record = e.Seq
			return true
		case row.Direction == "inbound" && e.Seq == row.Record:
			return true
		}
	}
	return false
}

// sanitize keeps a message on one line.
func sanitize(s string) string { return strings.Join(strings.Fields(s), " ") }
