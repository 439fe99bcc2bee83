package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"text/template"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/loadgen"
	"github.com/gatehouse-health/gatehouse/internal/payer"
	"github.com/gatehouse-health/gatehouse/internal/sqlitedb"
)

// warnLogger logs warnings and errors of the servers to stderr.
func warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// checkLoopback returns an error unless addr is host:port with a
// loopback IP address as host.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q is not a loopback IP address", addr)
	}
	return nil
}

// listenLoopback listens on addr, which must be a loopback address.
func listenLoopback(addr string) (net.Listener, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	return net.Listen("tcp", addr)
}

// writeAddr writes what a started server is reached at, for run.sh to
// wait for. The file appears complete or not at all.
func writeAddr(path, addr string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(addr+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// runPayer serves the built-in payer service on its own, over plain HTTP,
// with a database of its own. No gateway is in front, so requests carry
// no partner header and no payer key.
func runPayer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("payer", flag.ExitOnError)
	dbPath := fs.String("db", "", "SQLite database `FILE` (created if missing)")
	listen := fs.String("listen", "127.0.0.1:0", "loopback `ADDR` to listen on")
	addrFile := fs.String("addr-file", "", "`FILE` to write the service's base URL to once it listens")
	fs.Parse(args)
	if *dbPath == "" || *addrFile == "" {
		return errors.New("payer: -db and -addr-file are required")
	}

	db, err := sqlitedb.Open(ctx, *dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := payer.New(db, payer.Options{Logger: warnLogger()})
	if err != nil {
		return err
	}
	if err := svc.Migrate(ctx); err != nil {
		return err
	}
	go svc.Run(ctx)

	ln, err := listenLoopback(*listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	if err := writeAddr(*addrFile, "http://"+ln.Addr().String()); err != nil {
		return err
	}
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// runGateway serves a development-mode gateway with its built-in payer
// service, as `gatehouse serve` does, with one change: the partner's rate
// limit is raised to -rate-limit, so that the limiter runs on every
// request but does not cap the measured throughput.
func runGateway(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ExitOnError)
	data := fs.String("data", "", "development-mode data `DIR` (created if missing)")
	listen := fs.String("listen", "127.0.0.1:0", "loopback `ADDR` of the inbound listener")
	addrFile := fs.String("addr-file", "", "`FILE` to write the public URL to once the gateway listens")
	rateLimit := fs.Float64("rate-limit", loadgen.MaxRate, "the partner's rate limit, requests per second")
	pprofAddr := fs.String("pprof", "", "loopback `ADDR` to serve net/http/pprof on; empty disables it")
	fs.Parse(args)
	if *data == "" || *addrFile == "" {
		return errors.New("gateway: -data and -addr-file are required")
	}
	if err := checkLoopback(*listen); err != nil {
		return err
	}

	cfg, _, _, err := app.DevConfig(*data, *listen, "")
	if err != nil {
		return err
	}
	for i := range cfg.Partners {
		cfg.Partners[i].RateLimit = config.RateLimit{RequestsPerSecond: *rateLimit, Burst: int(2 * *rateLimit)}
	}
	rt, err := app.Start(ctx, cfg, app.Options{Logger: warnLogger()})
	if err != nil {
		return err
	}
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		rt.Close(shutdown)
	}()
	if *pprofAddr != "" {
		if err := servePprof(*pprofAddr); err != nil {
			return err
		}
	}
	if err := writeAddr(*addrFile, rt.PublicURL); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func servePprof(addr string) error {
	ln, err := listenLoopback(addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return nil
}

// nginxConf is target (b): TLS 1.2 and 1.3 with ECDHE and AEAD suites only,
// a client certificate chained to the development CA required, and every
// request under /fhir/ passed to the payer service over kept-alive
// HTTP/1.1 connections. It makes no FHIR checks and keeps a buffered
// access log, as a production proxy would.
var nginxConf = template.Must(template.New("nginx").Parse(`# Generated by bench/compare nginx-conf.
worker_processes auto;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
daemon on;

events {
    worker_connections 1024;
}

http {
    access_log {{.Dir}}/access.log combined buffer=64k flush=1s;
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;

    # The gateway's body cap; bodies up to 1 MiB stay in memory.
    client_max_body_size 10m;
    client_body_buffer_size 1m;
    keepalive_requests 100000;

    upstream payer {
        server {{.Upstream}};
        keepalive 64;
    }

    server {
        listen {{.Listen}} ssl;
        server_name localhost;

        ssl_certificate {{.ServerCert}};
        ssl_certificate_key {{.ServerKey}};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
        ssl_prefer_server_ciphers on;
        ssl_client_certificate {{.ClientCA}};
        ssl_verify_client on;
        ssl_verify_depth 3;

        location /fhir/ {
            proxy_pass http://payer/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`))

// printNginxConf prints the configuration of target (b), using the
// development CA and server certificate of a gateway data directory.
func printNginxConf(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("nginx-conf", flag.ExitOnError)
	data := fs.String("data", "", "development-mode data `DIR` holding the CA and the server certificate")
	listen := fs.String("listen", "", "loopback `ADDR` (host:port) for nginx to listen on")
	upstream := fs.String("upstream", "", "`ADDR` (host:port) of the payer service")
	dir := fs.String("dir", "", "`DIR` for nginx's pid file, logs and temporary files")
	fs.Parse(args)
	if *data == "" || *listen == "" || *upstream == "" || *dir == "" {
		return errors.New("nginx-conf: -data, -listen, -upstream and -dir are required")
	}
	for _, addr := range []string{*listen, *upstream} {
		if err := checkLoopback(addr); err != nil {
			return err
		}
	}
	layout, _, err := devmode.Ensure(*data, devmode.Options{})
	if err != nil {
		return err
	}
	return nginxConf.Execute(os.Stdout, map[string]string{
		"Dir": *dir, "Listen": *listen, "Upstream": *upstream,
		"ServerCert": layout.ServerCertFile, "ServerKey": layout.ServerKeyFile, "ClientCA": layout.CACertFile,
	})
}
