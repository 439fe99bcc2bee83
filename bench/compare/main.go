// Command compare runs the pieces of bench/compare/run.sh, which loads
// three targets with the same PAS requests and compares them:
//
//	(a) the built-in payer service alone, plain HTTP on loopback;
//	(b) nginx as a mutual-TLS reverse proxy in front of another payer
//	    service, with no FHIR checks;
//	(c) Gatehouse in development mode with every control on.
//
// Subcommands:
//
//	compare payer -db FILE -addr-file FILE
//	    serves the payer service alone until interrupted
//	compare gateway -data DIR -addr-file FILE [-pprof ADDR]
//	    serves a development-mode gateway until interrupted
//	compare nginx-conf -data DIR -listen ADDR -upstream ADDR -dir DIR
//	    prints an nginx configuration for target (b)
//	compare load -kind payer|nginx -url URL [-data DIR] [load options]
//	    loads target (a) or (b) and prints the JSON summary; target (c)
//	    is loaded with `gatehouse load`
//	compare half FILE.json...
//	    prints half the median throughput of the summaries, rounded down
//	compare report -dir DIR
//	    prints the comparison table from the summaries in DIR
//	compare freeport
//	    prints a TCP port that is free on 127.0.0.1, for nginx
//
// Every listener is on loopback, and every load goes through
// internal/loadgen, which dials loopback addresses only.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatehouse-health/gatehouse/bench/internal/loopback"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: compare payer|gateway|nginx-conf|load|half|report|freeport [options]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmds := map[string]func(context.Context, []string) error{
		"payer":      runPayer,
		"gateway":    runGateway,
		"nginx-conf": printNginxConf,
		"load":       runLoad,
		"half":       printHalf,
		"report":     printReport,
		"freeport":   printFreePort,
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "compare: error: unknown subcommand %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := cmd(ctx, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "compare: error: %v\n", err)
		os.Exit(1)
	}
}

// printFreePort prints a port that is free on 127.0.0.1, for nginx. Another
// process may take it before nginx binds it. run.sh then fails when nginx
// starts and can be run again.
func printFreePort(context.Context, []string) error {
	port, err := loopback.FreePort()
	if err != nil {
		return err
	}
	fmt.Println(port)
	return nil
}
