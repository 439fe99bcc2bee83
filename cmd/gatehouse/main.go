// Command gatehouse is the security gateway for FHIR exchange between a
// health plan and providers' EHRs. See `gatehouse help`.
package main

import (
	"os"

	"github.com/gatehouse-health/gatehouse/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
