package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/loadgen"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// runLoad loads target (a) or (b) with the requests `gatehouse load`
// sends to target (c), and prints the JSON summary on stdout.
func runLoad(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	kind := fs.String("kind", "", "target kind: payer (plain HTTP to the payer service) or nginx (mutual TLS)")
	base := fs.String("url", "", "base `URL` of the target: the payer service's root, or https://localhost:PORT of nginx")
	data := fs.String("data", "", "development-mode data `DIR` with the partner certificate and CA (kind nginx)")
	synthea := fs.String("synthea", "", "Synthea `FILE.tgz` whose claims become the requests; default: the built-in requests")
	rate := fs.Float64("rate", 0, "open-loop rate per second; 0 is closed loop")
	concurrency := fs.Int("concurrency", 16, "number of workers, each with its own connection")
	duration := fs.Duration("duration", 10*time.Second, "how long to send requests")
	fs.Parse(args)

	target, err := loadTarget(*kind, strings.TrimRight(*base, "/"), *data)
	if err != nil {
		return err
	}
	reqs, err := requests(*synthea)
	if err != nil {
		return err
	}
	sum, err := loadgen.Run(ctx, loadgen.Options{
		Requests: reqs, Target: target, Rate: *rate, Concurrency: *concurrency, Duration: *duration,
		Progress: func(p loadgen.Progress) {
			fmt.Fprintf(os.Stderr, "compare: load %s: %3.0fs: %d sent, %d ok, %d failed, %d errors, %d/s\n",
				*kind, p.Elapsed.Seconds(), p.Sent, p.Succeeded, p.Failed, p.Errors, p.LastSecond)
		},
	})
	if err != nil {
		return err
	}
	return sum.WriteJSON(os.Stdout)
}

func loadTarget(kind, base, data string) (loadgen.Target, error) {
	switch kind {
	case "payer":
		return &loadgen.HTTP{SubmitURL: base + "/Claim/$submit", Label: "payer service, plain HTTP"}, nil
	case "nginx":
		if data == "" {
			return nil, errors.New("load: -kind nginx needs -data for the client certificate")
		}
		layout, _, err := devmode.Ensure(data, devmode.Options{})
		if err != nil {
			return nil, err
		}
		cert, err := layout.PartnerClientCertificate()
		if err != nil {
			return nil, err
		}
		roots, err := layout.CAPool()
		if err != nil {
			return nil, err
		}
		return &loadgen.HTTP{SubmitURL: base + "/fhir/Claim/$submit", TLS: tlspolicy.Client(roots, &cert), Label: "nginx mTLS proxy"}, nil
	}
	return nil, fmt.Errorf("load: unknown -kind %q: use payer or nginx", kind)
}

func requests(synthea string) ([]*loadgen.Template, error) {
	if synthea == "" {
		return loadgen.Builtin(0, 1, time.Now())
	}
	reqs, _, err := loadgen.FromSynthea(synthea, loadgen.SyntheaOptions{})
	return reqs, err
}

// memberSeeds returns one request per distinct patient of the load that
// synthea names, for a built-in payer to store as members. A payer
// without them rejects every submission as an unknown member, so the
// benchmark would measure that rejection instead of an adjudication.
func memberSeeds(synthea string) ([][]byte, error) {
	reqs, err := requests(synthea)
	if err != nil {
		return nil, err
	}
	seed, skipped := loadgen.MemberSeeds(reqs)
	if skipped > 0 {
		return nil, fmt.Errorf("members: %d of %d requests name a patient that cannot be a member", skipped, len(reqs))
	}
	return seed, nil
}
