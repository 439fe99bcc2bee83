package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

const versionSynopsis = "gatehouse version"

// version prints the module version and the VCS revision the binary was
// built from, as the Go toolchain recorded them.
func (e *env) version(args []string) int {
	fs := e.flags("version")
	if code, ok := e.parse(fs, versionSynopsis, args); !ok {
		return code
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintf(e.stdout, "gatehouse (no build information), %s\n", runtime.Version())
		return 0
	}
	fmt.Fprintln(e.stdout, formatVersion(info))
	return 0
}

// formatVersion returns one line such as "gatehouse v1.2.0, revision
// 44ee013 (2026-12-05T00:41:00Z, modified), go1.26.8". A binary built by
// go build in a checkout has module version "(devel)". One built without
// VCS stamping, such as a test binary or one built with -buildvcs=false,
// has no revision.
func formatVersion(info *debug.BuildInfo) string {
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	version := info.Main.Version
	if version == "" {
		version = "(unknown)"
	}
	line := "gatehouse " + version
	if rev := settings["vcs.revision"]; rev != "" {
		var notes []string
		if t := settings["vcs.time"]; t != "" {
			notes = append(notes, t)
		}
		if settings["vcs.modified"] == "true" {
			notes = append(notes, "modified")
		}
		line += ", revision " + rev
		if len(notes) > 0 {
			line += " (" + strings.Join(notes, ", ") + ")"
		}
	} else {
		line += ", no VCS revision recorded"
	}
	return line + ", " + info.GoVersion
}
