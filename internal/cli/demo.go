package cli

import (
	"os"

	"github.com/gatehouse-health/gatehouse/internal/demo"
)

const demoSynopsis = "gatehouse demo [--bundles DIR] [--json]"

func (e *env) demo(args []string) int {
	fs := e.flags("demo")
	dir := fs.String("bundles", "", "`DIR` of PAS request bundles (*.json) to submit; default: the PAS examples shipped in the binary")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
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
	res, err := demo.Run(e.ctx, demo.Options{BundlesDir: *dir})
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
	if !res.OK() {
		return 1
	}
	return 0
}
