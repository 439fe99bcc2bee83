package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gatehouse-health/gatehouse/internal/demo"
)

const demoSynopsis = "gatehouse demo [--bundles DIR] [--json] [--keep DIR]"

func (e *env) demo(args []string) int {
	fs := e.flags("demo")
	dir := fs.String("bundles", "", "`DIR` of PAS request bundles (*.json) to submit; default: the PAS examples shipped in the binary")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	keep := fs.String("keep", "", "run in the new directory `DIR` and keep it, so the exchange record in DIR/data can be read after the demo")
	if code, ok := e.parse(fs, demoSynopsis, args); !ok {
		return code
	}
	// A directory that cannot be read is a usage error, reported before
	// the demo starts its gateway.
	if *dir != "" {
		if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
			e.errorf("--bundles %s is not a readable directory", *dir)
			e.hint("--bundles takes a directory of FHIR JSON request Bundles")
			return 2
		}
	}
	if *keep != "" {
		if _, err := os.Lstat(*keep); err == nil {
			e.errorf("--keep %s already exists", *keep)
			e.hint("give a directory that does not exist yet; the demo creates it")
			return 2
		}
	}
	res, err := demo.Run(e.ctx, demo.Options{BundlesDir: *dir, KeepDir: *keep})
	if err != nil {
		e.errorf("%v", err)
		if *dir != "" {
			e.hint("--bundles takes a directory of FHIR JSON request Bundles")
		}
		return 1
	}
	if *asJSON {
		err = res.WriteJSON(e.stdout)
	} else {
		err = res.WriteTable(e.stdout)
	}
	if err != nil {
		e.errorf("writing the report: %v", err)
		return 1
	}
	if *keep != "" && !*asJSON {
		data := filepath.Join(*keep, "data")
		fmt.Fprintf(e.stdout, "\nThe exchange record is kept in %s. Read it with:\n  gatehouse audit show --data %s --identity %s\n",
			data, data, filepath.Join(data, "audit", "identity.txt"))
	}
	if !res.OK() {
		return 1
	}
	return 0
}
