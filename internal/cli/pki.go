package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/cadir"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/pki"
)

const pkiUsage = `Usage:
    gatehouse pki init [--dir DIR] [--key-type ecdsa-p256|ecdsa-p384|rsa-3072] [--offline-root] [--org NAME] [--role partner|admin|engine] [--name NAME]
    gatehouse pki issue server [--dir DIR] [--dns NAME[,NAME]] [--ip ADDR[,ADDR]] [--days N] [--key-type T] [--out DIR]
    gatehouse pki issue client [--dir DIR] --partner ID [--npi NPI] [--org NAME] [--days N] [--key-type T] [--out DIR]
    gatehouse pki issue admin [--dir DIR] --name NAME [--days N] [--key-type T] [--out DIR]
    gatehouse pki issue engine [--dir DIR] --name NAME [--days N] [--key-type T] [--out DIR]
    gatehouse pki revoke [--dir DIR] [--reason REASON] SERIAL
    gatehouse pki crl [--dir DIR] [--days N]
    gatehouse pki list [--dir DIR] [--json]

The CA directory (--dir, default ./gatehouse-ca) contains a root, an issuing CA
that signs every certificate and the CRL, and an index of what was issued.
Give the gateway root.pem as tls.client_ca_file and crl.pem as tls.crl_file.

Examples:
    # Create the CA, keeping the root key apart for offline storage.
    $ gatehouse pki init --dir ./ca --offline-root

    # Issue the gateway's server certificate and a partner's client certificate.
    $ gatehouse pki issue server --dir ./ca --dns gateway.payer.example
    $ gatehouse pki issue client --dir ./ca --partner acme-ehr --npi 8189991234

    # Issue the payer service's certificate for payer.notifications.
    $ gatehouse pki issue engine --dir ./ca --name payer-service

    # Revoke a certificate by the serial that 'list' shows.
    $ gatehouse pki list --dir ./ca
    $ gatehouse pki revoke --dir ./ca --reason keyCompromise 3f0c...
`

const defaultCADir = "./gatehouse-ca"

var pkiGroup = &commandGroup{
	name:  "pki",
	usage: pkiUsage,
	commands: map[string]command{
		"init":   {run: (*env).pkiInit},
		"issue":  {group: pkiIssueGroup},
		"revoke": {run: (*env).pkiRevoke},
		"crl":    {run: (*env).pkiCRL},
		"list":   {run: (*env).pkiList},
	},
}

const pkiIssueUsage = `Usage:
    gatehouse pki issue server [--dir DIR] [--dns NAME[,NAME]] [--ip ADDR[,ADDR]] [--days N] [--key-type T] [--out DIR]
    gatehouse pki issue client [--dir DIR] --partner ID [--npi NPI] [--org NAME] [--days N] [--key-type T] [--out DIR]
    gatehouse pki issue admin [--dir DIR] --name NAME [--days N] [--key-type T] [--out DIR]
    gatehouse pki issue engine [--dir DIR] --name NAME [--days N] [--key-type T] [--out DIR]

server is the gateway's TLS server certificate; client is a partner's
(urn:gatehouse:partner:ID); admin is an administrator's for the admin
listener (urn:gatehouse:admin:NAME); engine is the payer integration
engine's or the payer service's for the outbound listener
(urn:gatehouse:engine:NAME), as payer.notifications.cert_file uses.
Run 'gatehouse pki issue KIND -h' for the options of one kind.
`

var pkiIssueGroup = &commandGroup{
	name:  "pki issue",
	usage: pkiIssueUsage,
	commands: map[string]command{
		"server": {run: (*env).pkiIssueServer},
		"client": {run: (*env).pkiIssueClient},
		"admin":  {run: (*env).pkiIssueAdmin},
		"engine": {run: (*env).pkiIssueEngine},
	},
}

func (e *env) pkiInit(args []string) int {
	const synopsis = "gatehouse pki init [--dir DIR] [--key-type ecdsa-p256|ecdsa-p384|rsa-3072] [--offline-root] [--org NAME] [--role partner|admin|engine] [--name NAME]"
	fs := e.flags("pki init")
	dir := fs.String("dir", defaultCADir, "CA `DIR` to create; it must not exist or must be empty")
	keyType := fs.String("key-type", string(pki.ECDSAP256), "key `TYPE` of the root and issuing CA: ecdsa-p256, ecdsa-p384 or rsa-3072")
	offline := fs.Bool("offline-root", false, "write the root key to a separate file to move to offline storage")
	org := fs.String("org", "", "organisation `NAME` in the CA certificates (default Gatehouse)")
	role := fs.String("role", string(cadir.RolePartner), "`ROLE` of the certificates the CA issues: partner (tls.client_ca_file), admin (admin.client_ca_file) or engine (outbound.client_ca_file); it names the CA unless --name is given")
	name := fs.String("name", "", "the CA's `NAME`, which starts its certificates' common names (default ORG and the role: ORG Partner, ORG Administrators or ORG Engine)")
	if code, ok := e.parse(fs, synopsis, args); !ok {
		return code
	}
	kind, err := pki.ParseKeyType(*keyType)
	if err != nil {
		e.errorf("--key-type: %v", err)
		return 2
	}

	where := cadir.Role(*role).RootSetting()
	if where == "" {
		return e.usageError(synopsis, "invalid --role %q: use partner, admin or engine", *role)
	}

	d, err := cadir.Init(*dir, cadir.InitOptions{KeyType: kind, Organization: *org, Role: cadir.Role(*role), Name: *name, OfflineRoot: *offline})
	if err != nil {
		e.errorf("--dir %s: %v", *dir, err)
		e.hint("choose a new directory; an existing CA is never overwritten")
		return 1
	}
	fmt.Fprintf(e.stdout, "gatehouse: created CA in %s\n", d.Path)
	fmt.Fprintf(e.stdout, "    root         %s (%s)\n", filepath.Join(d.Path, cadir.RootCertFile), where)
	fmt.Fprintf(e.stdout, "    issuing CA   %s\n", filepath.Join(d.Path, cadir.IssuingFile))
	fmt.Fprintf(e.stdout, "    CRL          %s (tls.crl_file)\n", filepath.Join(d.Path, cadir.CRLFile))
	if *offline {
		key := filepath.Join(d.Path, cadir.OfflineRootKeyFile)
		e.warnf("the root key is in %s: move it to offline storage now and delete it here; issuing, revoking and CRLs do not need it", key)
	} else {
		e.warnf("the root key is in %s; consider --offline-root for a production CA", filepath.Join(d.Path, cadir.RootKeyFile))
	}
	return 0
}

// issueFlags are the options every kind of certificate takes.
type issueFlags struct {
	dir, keyType, out *string
	days              *int
}

func (e *env) addIssueFlags(fs *flag.FlagSet) issueFlags {
	return issueFlags{
		dir:     fs.String("dir", defaultCADir, "CA `DIR`"),
		keyType: fs.String("key-type", string(pki.ECDSAP256), "key `TYPE`: ecdsa-p256, ecdsa-p384 or rsa-3072"),
		out:     fs.String("out", "", "output `DIR` for the certificate and key (default DIR/certs)"),
		days:    fs.Int("days", 365, "validity in `DAYS`, at most 398"),
	}
}

func (e *env) pkiIssueServer(args []string) int {
	const synopsis = "gatehouse pki issue server [--dir DIR] [--dns NAME[,NAME]] [--ip ADDR[,ADDR]] [--days N] [--key-type T] [--out DIR]"
	fs := e.flags("pki issue server")
	common := e.addIssueFlags(fs)
	dns := fs.String("dns", "", "comma-separated DNS `NAMES` (subject alternative names); give --dns, --ip or both")
	ips := fs.String("ip", "", "comma-separated IP `ADDRS` (subject alternative names)")
	if code, ok := e.parse(fs, synopsis, args); !ok {
		return code
	}
	opts := pki.ServerOptions{DNSNames: splitList(*dns)}
	// A TLS client checks an IP address in the URL against IP subject
	// alternative names only, so an address given as a DNS name would
	// yield a certificate that no client accepts for it.
	for _, name := range opts.DNSNames {
		if net.ParseIP(name) != nil {
			e.errorf("--dns: %s is an IP address, which clients never match against a DNS name", name)
			e.hint("give IP addresses with --ip, as in --dns localhost --ip %s", name)
			return 2
		}
	}
	for _, s := range splitList(*ips) {
		ip := net.ParseIP(s)
		if ip == nil {
			e.errorf("--ip: invalid IP address %q", s)
			return 2
		}
		opts.IPAddresses = append(opts.IPAddresses, ip)
	}
	if len(opts.DNSNames) == 0 && len(opts.IPAddresses) == 0 {
		e.errorf("a server certificate needs --dns or --ip")
		e.hint("usage: %s", synopsis)
		return 2
	}
	name := *dns
	if len(opts.DNSNames) > 0 {
		name = opts.DNSNames[0]
	} else {
		name = opts.IPAddresses[0].String()
	}
	return e.issue(common, name, func(d *cadir.Dir, kind pki.KeyType, validity time.Duration) (*pki.Certificate, cadir.Record, error) {
		opts.KeyType, opts.Validity = kind, validity
		return d.IssueServer(opts)
	})
}

func (e *env) pkiIssueClient(args []string) int {
	const synopsis = "gatehouse pki issue client [--dir DIR] --partner ID [--npi NPI] [--org NAME] [--days N] [--key-type T] [--out DIR]"
	fs := e.flags("pki issue client")
	common := e.addIssueFlags(fs)
	partner := fs.String("partner", "", "partner `ID` (also its OAuth client id)")
	npi := fs.String("npi", "", "the partner organisation's `NPI`, added as a URI subject alternative name")
	org := fs.String("org", "", "the partner organisation's `NAME` (subject O)")
	if code, ok := e.parse(fs, synopsis, args); !ok {
		return code
	}
	if *partner == "" {
		e.errorf("a client certificate needs --partner")
		e.hint("usage: %s", synopsis)
		return 2
	}
	if err := pki.ValidateID(*partner); err != nil {
		e.errorf("--partner: %v", strings.TrimPrefix(err.Error(), "pki: "))
		e.hint("use the partners[].id of the partner's registration, such as acme-ehr")
		return 2
	}
	opts := pki.ClientOptions{PartnerID: *partner, OrganizationName: *org}
	if *npi != "" {
		uri, err := pki.NPIURI(*npi)
		if err != nil {
			e.errorf("--npi: %v", err)
			return 2
		}
		opts.OrganizationURIs = []string{uri}
	}
	return e.issue(common, *partner, func(d *cadir.Dir, kind pki.KeyType, validity time.Duration) (*pki.Certificate, cadir.Record, error) {
		opts.KeyType, opts.Validity = kind, validity
		return d.IssueClient(opts)
	})
}

func (e *env) pkiIssueAdmin(args []string) int {
	return e.pkiIssueNamed(args, "admin", "administrator `NAME`", (*cadir.Dir).IssueAdmin)
}

func (e *env) pkiIssueEngine(args []string) int {
	return e.pkiIssueNamed(args, "engine", "engine `NAME`, such as payer-service (URI SAN urn:gatehouse:engine:NAME)", (*cadir.Dir).IssueEngine)
}

// pkiIssueNamed runs "pki issue KIND" for the certificate kinds that take
// only --name besides the common issue flags.
func (e *env) pkiIssueNamed(args []string, kind, nameHelp string, issueWith func(*cadir.Dir, pki.AdminOptions) (*pki.Certificate, cadir.Record, error)) int {
	synopsis := "gatehouse pki issue " + kind + " [--dir DIR] --name NAME [--days N] [--key-type T] [--out DIR]"
	fs := e.flags("pki issue " + kind)
	common := e.addIssueFlags(fs)
	name := fs.String("name", "", nameHelp)
	if code, ok := e.parse(fs, synopsis, args); !ok {
		return code
	}
	if *name == "" {
		e.errorf("an %s certificate needs --name", kind)
		e.hint("usage: %s", synopsis)
		return 2
	}
	if err := pki.ValidateID(*name); err != nil {
		e.errorf("--name: %v", strings.TrimPrefix(err.Error(), "pki: "))
		e.hint("use lower-case letters, digits, '-' and '.', such as alice or payer-service")
		return 2
	}
	return e.issue(common, *name, func(d *cadir.Dir, keyType pki.KeyType, validity time.Duration) (*pki.Certificate, cadir.Record, error) {
		return issueWith(d, pki.AdminOptions{Name: *name, KeyType: keyType, Validity: validity})
	})
}

type issueFunc func(d *cadir.Dir, kind pki.KeyType, validity time.Duration) (*pki.Certificate, cadir.Record, error)

// issue opens and locks the CA, checks the output paths, issues with fn and
// writes the certificate and key.
func (e *env) issue(f issueFlags, name string, fn issueFunc) int {
	kind, err := pki.ParseKeyType(*f.keyType)
	if err != nil {
		e.errorf("--key-type: %v", err)
		return 2
	}
	if maxDays := int(pki.MaxLeafValidity / (24 * time.Hour)); *f.days < 1 || *f.days > maxDays {
		e.errorf("--days %d is out of range: use 1 to %d", *f.days, maxDays)
		e.hint("certificates are limited to %d days so that they are renewed every year", maxDays)
		return 2
	}
	d, unlock, code := e.openCA(*f.dir)
	if d == nil {
		return code
	}
	defer unlock()

	outDir := *f.out
	if outDir == "" {
		outDir = filepath.Join(d.Path, "certs")
	}
	certPath, keyPath := filepath.Join(outDir, name+".pem"), filepath.Join(outDir, name+"-key.pem")
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); err == nil {
			e.errorf("%s already exists", p)
			e.hint("move the old files away, or write elsewhere with --out DIR")
			return 1
		}
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		e.errorf("%v", err)
		return 1
	}

	cert, rec, err := fn(d, kind, time.Duration(*f.days)*24*time.Hour)
	if err != nil {
		e.errorf("%v", err)
		return 1
	}
	if err := cert.WriteFiles(certPath, keyPath); err != nil {
		e.errorf("%v", err)
		e.hint("the certificate %s is recorded in the index; revoke it with 'gatehouse pki revoke %s' and issue again", rec.Serial, rec.Serial)
		return 1
	}
	fmt.Fprintf(e.stdout, "gatehouse: issued %s certificate %s\n", rec.Kind, rec.Subject)
	fmt.Fprintf(e.stdout, "    serial       %s\n", rec.Serial)
	fmt.Fprintf(e.stdout, "    names        %s\n", strings.Join(rec.Names, ", "))
	fmt.Fprintf(e.stdout, "    expires      %s\n", rec.NotAfter.Format(time.RFC3339))
	fmt.Fprintf(e.stdout, "    certificate  %s\n", certPath)
	fmt.Fprintf(e.stdout, "    private key  %s (mode 0600)\n", keyPath)
	return 0
}

// openCA opens and locks the CA directory. On failure it prints the error
// and returns a nil Dir with the exit code.
func (e *env) openCA(dir string) (*cadir.Dir, func(), int) {
	d, err := cadir.Open(dir)
	if err != nil {
		e.caOpenFailed(dir, err)
		return nil, nil, exitUsage
	}
	unlock, err := d.Lock()
	if err != nil {
		e.errorf("%v", err)
		e.hint("wait for the other command to finish; after an interrupted command, remove the lock file")
		return nil, nil, 1
	}
	return d, unlock, 0
}

// caOpenFailed prints the error of cadir.Open on dir and, when dir is not
// a CA directory, the hint that names the directory to pass instead.
func (e *env) caOpenFailed(dir string, err error) {
	if errors.Is(err, cadir.ErrNotCADir) {
		e.errorf("--dir %s is not a CA directory: it has no %s", dir, cadir.MetaFile)
	} else {
		e.errorf("--dir %s: %v", dir, err)
	}
	switch {
	// Clean first, so that "gatehouse-data/ca/", as shells complete
	// it, has gatehouse-data as its parent.
	case errors.Is(err, cadir.ErrNotCADir) && (devmode.IsDataDir(dir) || devmode.IsDataDir(filepath.Dir(filepath.Clean(dir)))):
		// Development mode issues its own certificates and keeps no
		// index, serials or CRL, so it cannot be a pki directory.
		e.hint("this is the CA of a development-mode data directory, which gatehouse pki does not manage; for more partners, revocation or production, create a deployment CA with 'gatehouse pki init --dir DIR' (docs/operations.md)")
	case errors.Is(err, cadir.ErrNotCADir):
		e.hint("create one with 'gatehouse pki init --dir %s', or point --dir at an existing CA", dir)
	}
}

func (e *env) pkiRevoke(args []string) int {
	const synopsis = "gatehouse pki revoke [--dir DIR] [--reason REASON] SERIAL"
	fs := e.flags("pki revoke")
	dir := fs.String("dir", defaultCADir, "CA `DIR`")
	reason := fs.String("reason", "unspecified", "CRL `REASON`: "+strings.Join(cadir.ReasonNames(), ", "))
	serial, code, ok := e.parseWithArgument(fs, synopsis, args)
	if !ok {
		return code
	}
	if !slices.Contains(cadir.ReasonNames(), *reason) {
		e.errorf("invalid --reason %q", *reason)
		e.hint("use one of %s", strings.Join(cadir.ReasonNames(), ", "))
		return 2
	}
	d, unlock, code := e.openCA(*dir)
	if d == nil {
		return code
	}
	defer unlock()

	rec, err := d.Revoke(serial, *reason)
	if err != nil {
		e.errorf("%v", err)
		if rec.Serial == "" {
			e.hint("'gatehouse pki list --dir %s' shows the serials", *dir)
		}
		return 1
	}
	fmt.Fprintf(e.stdout, "gatehouse: revoked %s (%s, %s); the CRL %s is updated\n",
		rec.Serial, rec.Subject, rec.RevocationReason, filepath.Join(d.Path, cadir.CRLFile))
	e.printCRLCopyStep()
	fmt.Fprintf(e.stdout, "    gateways reading the new CRL as tls.crl_file refuse the certificate after their next reload\n")
	return 0
}

// parseWithArgument parses flags around exactly one positional argument.
func (e *env) parseWithArgument(fs *flag.FlagSet, synopsis string, args []string) (string, int, bool) {
	if err := fs.Parse(args); err != nil {
		code, _ := e.parse(fs, synopsis, args)
		return "", code, false
	}
	if fs.NArg() == 0 {
		e.errorf("missing argument")
		e.hint("usage: %s", synopsis)
		return "", 2, false
	}
	arg := fs.Arg(0)
	if code, ok := e.parse(fs, synopsis, fs.Args()[1:]); !ok {
		return "", code, false
	}
	return arg, 0, true
}

func (e *env) pkiCRL(args []string) int {
	const synopsis = "gatehouse pki crl [--dir DIR] [--days N]"
	fs := e.flags("pki crl")
	dir := fs.String("dir", defaultCADir, "CA `DIR`")
	days := fs.Int("days", int(cadir.DefaultCRLValidity/(24*time.Hour)), "`DAYS` until the CRL's next update")
	if code, ok := e.parse(fs, synopsis, args); !ok {
		return code
	}
	if *days < 1 {
		e.errorf("--days %d must be at least 1", *days)
		return 2
	}
	d, unlock, code := e.openCA(*dir)
	if d == nil {
		return code
	}
	defer unlock()
	number, err := d.WriteCRL(time.Duration(*days) * 24 * time.Hour)
	if err != nil {
		e.errorf("%v", err)
		return 1
	}
	fmt.Fprintf(e.stdout, "gatehouse: wrote CRL number %d to %s, next update in %d days\n", number, filepath.Join(d.Path, cadir.CRLFile), *days)
	e.printCRLCopyStep()
	return 0
}

// printCRLCopyStep prints the step that installs the CRL that revoke or
// crl just wrote. The deployment runbook copies crl.pem to the gateway
// host, so a gateway whose tls.crl_file is that copy keeps the old list,
// and keeps accepting a revoked certificate, until the copy is replaced.
func (e *env) printCRLCopyStep() {
	fmt.Fprintf(e.stdout, "    copy it over the tls.crl_file of every gateway, unless tls.crl_file names this file\n")
}

func (e *env) pkiList(args []string) int {
	const synopsis = "gatehouse pki list [--dir DIR] [--json]"
	fs := e.flags("pki list")
	dir := fs.String("dir", defaultCADir, "CA `DIR`")
	asJSON := fs.Bool("json", false, "print the index records as JSON")
	if code, ok := e.parse(fs, synopsis, args); !ok {
		return code
	}
	d, err := cadir.Open(*dir)
	if err != nil {
		e.caOpenFailed(*dir, err)
		return exitUsage
	}
	idx, err := d.LoadIndex()
	if err != nil {
		e.errorf("%v", err)
		return 1
	}
	if *asJSON {
		out, _ := json.MarshalIndent(idx.Certificates, "", "  ")
		fmt.Fprintf(e.stdout, "%s\n", out)
		return 0
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tKIND\tSUBJECT\tUSAGES\tEXPIRES\tSTATE")
	now := time.Now()
	for _, r := range idx.Certificates {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Serial, r.Kind, r.Subject,
			strings.Join(r.Usages, ","), r.NotAfter.Format("2006-01-02"), recordState(r, now))
	}
	tw.Flush()
	return 0
}

func recordState(r cadir.Record, now time.Time) string {
	switch {
	case r.Revoked():
		return fmt.Sprintf("revoked %s (%s)", r.RevokedAt.Format("2006-01-02"), r.RevocationReason)
	case now.After(r.NotAfter):
		return "expired"
	}
	return "valid"
}

func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
