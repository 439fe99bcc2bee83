package cli

import (
	"io"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/dfd"
)

const dfdSynopsis = "gatehouse dfd [--config FILE | --data DIR] [--format mermaid|dot|svg]"

// dfd prints the data-flow diagram of a configuration, or of the
// development configuration in a data directory.
func (e *env) dfd(args []string) int {
	fs := e.flags("dfd")
	cfgPath := fs.String("config", "", "configuration `FILE` to draw; without it, the development configuration in --data")
	dataDir := fs.String("data", "./gatehouse-data", "development-mode data `DIR` drawn without --config")
	format := fs.String("format", "mermaid", "output `FORMAT`: mermaid, dot or svg (rendered by gatehouse itself)")
	if code, ok := e.parse(fs, dfdSynopsis, args); !ok {
		return code
	}
	write, ok := diagramWriter(*format)
	if !ok {
		e.errorf("invalid --format %q", *format)
		e.hint("use --format mermaid, dot or svg")
		return 2
	}

	var cfg *config.File
	var err error
	if *cfgPath != "" {
		if cfg, err = config.Load(*cfgPath); err != nil {
			if e.printConfigNotFound(err, *cfgPath, "run 'gatehouse dfd' without --config for the development configuration of --data") {
				return 2
			}
			e.errorf("%v", err)
			e.hint("%s", configFixHint(err, *cfgPath))
			return 2
		}
	} else {
		if _, err := openDevData(*dataDir); err != nil {
			e.errorf("%v", err)
			e.hint("pass --config FILE, or start the gateway once with 'gatehouse serve --data %s'", *dataDir)
			return 2
		}
		// The addresses are serve's development defaults.
		if cfg, _, _, err = app.DevConfig(*dataDir, "127.0.0.1:8443", "127.0.0.1:9443"); err != nil {
			e.errorf("%v", err)
			return 1
		}
		e.warnf("no --config given: drawing the development configuration of %s", *dataDir)
	}
	if err := write(e.stdout, dfd.Build(cfg)); err != nil {
		e.errorf("writing the diagram: %v", err)
		return 1
	}
	return 0
}

func diagramWriter(format string) (func(io.Writer, *dfd.Graph) error, bool) {
	switch format {
	case "mermaid":
		return dfd.WriteMermaid, true
	case "dot":
		return dfd.WriteDOT, true
	case "svg":
		return dfd.WriteSVG, true
	}
	return nil, false
}
