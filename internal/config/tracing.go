package config

import (
	"math"
	"net"
	"net/url"
	"strconv"

	"github.com/gatehouse-health/gatehouse/internal/egress"
)

// Tracing configures OpenTelemetry tracing: a span per exchange with a
// child span per pipeline stage, sent over OTLP/HTTP. It is off unless
// Endpoint is set.
type Tracing struct {
	// Endpoint is the collector's OTLP/HTTP traces URL, used as given, such
	// as https://collector.example:4318/v1/traces. Its host must be on
	// egress.allow. Plain http is accepted for a loopback collector only.
	// Empty turns tracing off.
	Endpoint string `yaml:"endpoint"`
	// SampleRatio is the fraction of exchanges traced, from 0 to 1; default
	// 1 when Endpoint is set.
	SampleRatio *float64 `yaml:"sample_ratio"`
}

// On reports whether tracing is enabled.
func (t Tracing) On() bool { return t.Endpoint != "" }

// Ratio returns the sample ratio, 1 when none is set.
func (t Tracing) Ratio() float64 {
	if t.SampleRatio == nil {
		return 1
	}
	return *t.SampleRatio
}

func (t *Tracing) applyDefaults() {
	if t.Endpoint != "" && t.SampleRatio == nil {
		all := 1.0
		t.SampleRatio = &all
	}
}

// validateTracing checks the endpoint URL and the sample ratio. The
// endpoint must pass the egress allowlist, because the exporter connects
// through the egress guard like every other outbound connection.
func (f *File) validateTracing(v *validator) {
	t := f.Tracing
	if r := t.SampleRatio; r != nil && (math.IsNaN(*r) || *r < 0 || *r > 1) {
		v.addf("tracing.sample_ratio", "%s is out of range: use a number from 0 to 1", strconv.FormatFloat(*r, 'g', -1, 64))
	}
	if t.Endpoint == "" {
		if t.SampleRatio != nil {
			v.addf("tracing.sample_ratio", "has no effect without tracing.endpoint: set the endpoint or remove the ratio")
		}
		return
	}

	u, err := url.Parse(t.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.RawQuery != "" || u.Fragment != "" {
		v.addf("tracing.endpoint", "invalid value: use an http(s) URL without query, such as https://collector.example:4318/v1/traces")
		return
	}
	if u.User != nil {
		v.addf("tracing.endpoint", "the URL carries a user name or password: remove them")
		return
	}
	if u.Path == "" || u.Path == "/" {
		v.addf("tracing.endpoint", "%q has no path: the URL is used as given, so add the collector's traces path, usually /v1/traces", t.Endpoint)
		return
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		v.addf("tracing.endpoint", "%q uses plain http to a host that is not loopback: use https", t.Endpoint)
		return
	}
	f.checkEgress(v, "tracing.endpoint", u)
}

// checkEgress reports a URL whose host and port egress.allow does not
// permit.
func (f *File) checkEgress(v *validator, path string, u *url.URL) {
	guard, err := egress.New(egress.Options{Allow: f.Egress.Allow})
	if err != nil {
		return // reported under egress.allow
	}
	port := uint16(443)
	if u.Scheme == "http" {
		port = 80
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			v.addf(path, "invalid port %q", p)
			return
		}
		port = uint16(n)
	}
	if err := guard.CheckHost(u.Hostname(), port); err != nil {
		v.addf(path, "the host %s is not allowed by egress.allow: add it there (%v)", net.JoinHostPort(u.Hostname(), strconv.Itoa(int(port))), err)
	}
}

// isLoopbackHost reports whether host is localhost or a loopback address.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
