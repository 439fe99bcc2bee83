// Command replicas runs the pieces of bench/replicas/run.sh, which loads
// one and then two Gatehouse replicas that share one PostgreSQL schema.
//
// Subcommands:
//
//	replicas schema -database URL
//	    creates a schema with a random name and prints a URL whose
//	    search_path selects it
//	replicas drop -database URL
//	    drops the schema that the URL's search_path names, with its tables
//	replicas gateway -data DIR -database URL -checkpoint FILE -listen ADDR
//	         -public-url URL -addr-file FILE
//	    serves one development-mode replica until interrupted
//	replicas balance -listen ADDR -addr-file FILE BACKEND...
//	    forwards each TCP connection to the next backend in turn, as a
//	    layer-4 load balancer does, until interrupted
//	replicas count -database URL
//	    prints the audit entries by phase as JSON
//	replicas expect -replicas N -counts FILE -verify FILE SUMMARY.json...
//	    checks that the counted entries are those the loads produced
//	replicas half SUMMARY.json...
//	    prints half the median throughput of the summaries, rounded down
//	replicas report -dir DIR
//	    prints the tables of the summaries DIR/r<N>-<max|half>-<round>.json
//	replicas freeport
//	    prints a TCP port that is free on 127.0.0.1
//	replicas version -database URL
//	    prints the PostgreSQL server version
//
// Every listener and backend is on loopback.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatehouse-health/gatehouse/bench/internal/cmdmain"
	"github.com/gatehouse-health/gatehouse/bench/internal/devgateway"
	"github.com/gatehouse-health/gatehouse/bench/internal/loopback"
	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/loadgen"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

const usage = `usage:
  replicas schema -database URL
  replicas drop -database URL
  replicas gateway -data DIR -database URL -checkpoint FILE -listen ADDR -public-url URL -addr-file FILE
  replicas balance -listen ADDR -addr-file FILE BACKEND...
  replicas count -database URL
  replicas expect -replicas N -counts FILE -verify FILE SUMMARY.json...
  replicas half SUMMARY.json...
  replicas report -dir DIR
  replicas freeport
  replicas version -database URL
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmds := map[string]func(context.Context, []string) error{
		"schema":   createSchema,
		"drop":     dropSchema,
		"gateway":  runGateway,
		"balance":  runBalancer,
		"count":    countEntries,
		"expect":   checkExpected,
		"half":     printHalf,
		"report":   printReport,
		"freeport": printFreePort,
		"version":  printVersion,
	}
	cmdmain.Main("replicas", usage, func(command string, args []string) error {
		cmd, ok := cmds[command]
		if !ok {
			return fmt.Errorf("%w: unknown subcommand %q", cmdmain.ErrUsage, command)
		}
		return cmd(ctx, args)
	})
}

// schemaName is the form of the schemas createSchema makes. dropSchema
// drops no other, so that a mistyped URL cannot drop a real schema.
var schemaName = regexp.MustCompile(`^gh_bench_[0-9a-f]{16}$`)

func createSchema(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	database := fs.String("database", "", "PostgreSQL `URL` of the database to create the schema in")
	if err := fs.Parse(args); err != nil || *database == "" {
		return fmt.Errorf("%w: schema needs -database", cmdmain.ErrUsage)
	}
	u, err := url.Parse(*database)
	if err != nil {
		return fmt.Errorf("invalid -database URL: %w", err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	name := "gh_bench_" + hex.EncodeToString(b)

	db, err := storage.Open(ctx, *database)
	if err != nil {
		return err
	}
	defer db.Close()
	if db.Dialect != storage.PostgreSQL {
		return fmt.Errorf("-database %q is not a PostgreSQL URL", u.Redacted())
	}
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
		return fmt.Errorf("create schema %s: %w", name, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	fmt.Println(u.String())
	return nil
}

func dropSchema(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("drop", flag.ContinueOnError)
	database := fs.String("database", "", "PostgreSQL `URL` whose search_path names the schema")
	if err := fs.Parse(args); err != nil || *database == "" {
		return fmt.Errorf("%w: drop needs -database", cmdmain.ErrUsage)
	}
	u, err := url.Parse(*database)
	if err != nil {
		return fmt.Errorf("invalid -database URL: %w", err)
	}
	name := u.Query().Get("search_path")
	if !schemaName.MatchString(name) {
		return fmt.Errorf("search_path %q is not a schema that 'replicas schema' created", name)
	}
	db, err := storage.Open(ctx, *database)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", name, err)
	}
	return nil
}

// runGateway serves one replica: the development-mode configuration of
// -data, with the shared database, the shared public URL, and a listener
// and checkpoint file of its own. The partner's rate limit is raised to
// loadgen.MaxRate, so that the limiter runs but does not cap the load.
func runGateway(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	data := fs.String("data", "", "development-mode data `DIR` shared by the replicas (keys, certificates)")
	database := fs.String("database", "", "PostgreSQL `URL` of the shared schema")
	checkpoint := fs.String("checkpoint", "", "this replica's audit.checkpoint_file `FILE`")
	listen := fs.String("listen", "", "loopback `ADDR` of this replica's inbound listener")
	publicURL := fs.String("public-url", "", "the `URL` partners use, the load balancer's")
	addrFile := fs.String("addr-file", "", "`FILE` to write the listener's address to once it listens")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", cmdmain.ErrUsage, err)
	}
	if *data == "" || *database == "" || *checkpoint == "" || *listen == "" || *publicURL == "" || *addrFile == "" {
		return fmt.Errorf("%w: gateway needs -data, -database, -checkpoint, -listen, -public-url and -addr-file", cmdmain.ErrUsage)
	}

	cfg, err := devgateway.Config(*data, *listen, loadgen.MaxRate)
	if err != nil {
		return err
	}
	cfg.Database = config.Database{URL: *database}
	cfg.Audit.CheckpointFile = *checkpoint
	cfg.PublicURL = *publicURL
	// The load is gatehouse load's built-in requests: their patients
	// become the built-in payer's members, so that it adjudicates them
	// instead of rejecting each as an unknown member.
	reqs, err := loadgen.Builtin(0, 1, time.Now())
	if err != nil {
		return err
	}
	seed, _ := loadgen.MemberSeeds(reqs)
	rt, err := app.Start(ctx, cfg, app.Options{Logger: devgateway.WarnLogger(), PayerMembers: seed})
	if err != nil {
		return err
	}
	if err := loopback.WriteAddrFile(*addrFile, rt.Addr.String()); err != nil {
		rt.Close(context.Background())
		return err
	}
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return rt.Close(shutdown)
}

// runBalancer accepts TCP connections on -listen and hands them to the
// backends round robin. TLS passes through, so each replica terminates
// the partner's mutual TLS itself, as behind a layer-4 load balancer.
func runBalancer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("balance", flag.ContinueOnError)
	listen := fs.String("listen", "", "loopback `ADDR` to accept connections on")
	addrFile := fs.String("addr-file", "", "`FILE` to write the listener's address to once it listens")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", cmdmain.ErrUsage, err)
	}
	backends := fs.Args()
	if *listen == "" || *addrFile == "" || len(backends) == 0 {
		return fmt.Errorf("%w: balance needs -listen, -addr-file and at least one backend", cmdmain.ErrUsage)
	}
	for _, addr := range append([]string{*listen}, backends...) {
		if err := loopback.Check(addr); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	if err := loopback.WriteAddrFile(*addrFile, ln.Addr().String()); err != nil {
		return err
	}

	// The connection count per backend goes to stderr at the end, to
	// show that the load was spread.
	served := make([]atomic.Int64, len(backends))
	var next atomic.Uint64
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		for i, b := range backends {
			fmt.Fprintf(os.Stderr, "replicas: balance: %d connections to %s\n", served[i].Load(), b)
		}
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		i := (next.Add(1) - 1) % uint64(len(backends))
		served[i].Add(1)
		wg.Go(func() { splice(conn, backends[i]) })
	}
}

// splice copies both ways between client and a new connection to
// backend, until both directions reach end of file.
func splice(client net.Conn, backend string) {
	defer client.Close()
	server, err := net.DialTimeout("tcp", backend, 5*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "replicas: balance: dial %s: %v\n", backend, err)
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	copyHalf := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go copyHalf(server, client)
	go copyHalf(client, server)
	<-done
	<-done
}

// entryCounts are the audit entries of a log by phase. Alone counts the
// exchanges with one entry only: a token request records its response
// and no request entry.
type entryCounts struct {
	Phases map[string]int64 `json:"phases"`
	Alone  int64            `json:"alone"`
	Total  int64            `json:"total"`
}

func countEntries(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("count", flag.ContinueOnError)
	database := fs.String("database", "", "PostgreSQL `URL` of the shared schema")
	if err := fs.Parse(args); err != nil || *database == "" {
		return fmt.Errorf("%w: count needs -database", cmdmain.ErrUsage)
	}
	db, err := storage.Open(ctx, *database)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT phase, count(*) FROM audit_entries GROUP BY phase`)
	if err != nil {
		return fmt.Errorf("count audit entries: %w", err)
	}
	defer rows.Close()
	counts := entryCounts{Phases: map[string]int64{}}
	for rows.Next() {
		var phase string
		var n int64
		if err := rows.Scan(&phase, &n); err != nil {
			return err
		}
		counts.Phases[phase] = n
		counts.Total += n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT exchange_id FROM audit_entries
		GROUP BY exchange_id HAVING count(*) = 1) AS alone`).Scan(&counts.Alone)
	if err != nil {
		return fmt.Errorf("count single-entry exchanges: %w", err)
	}
	return json.NewEncoder(os.Stdout).Encode(counts)
}

func printVersion(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	database := fs.String("database", "", "PostgreSQL `URL`")
	if err := fs.Parse(args); err != nil || *database == "" {
		return fmt.Errorf("%w: version needs -database", cmdmain.ErrUsage)
	}
	db, err := storage.Open(ctx, *database)
	if err != nil {
		return err
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, `SHOW server_version`).Scan(&v); err != nil {
		return fmt.Errorf("read the server version: %w", err)
	}
	fmt.Println(v)
	return nil
}

// printFreePort prints a port that is free on 127.0.0.1, for the
// balancer. Another process may take it before the balancer binds it.
// run.sh then fails and can be run again.
func printFreePort(context.Context, []string) error {
	port, err := loopback.FreePort()
	if err != nil {
		return err
	}
	fmt.Println(port)
	return nil
}
