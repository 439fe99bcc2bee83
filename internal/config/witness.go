package config

import (
	"fmt"
	"net/url"
	"strings"
)

// maxWitnesses caps audit.witnesses. Each new checkpoint goes to every
// witness in turn from one goroutine, so a long list delays publication.
const maxWitnesses = 8

// Witness is a c2sp.org/tlog-witness server that cosigns the log's
// checkpoints.
type Witness struct {
	// URL is the witness's submission prefix, an https URL; the gateway
	// posts to URL + "/add-checkpoint".
	URL string `yaml:"url"`
	// Key is the witness's cosignature verifier key, as the witness's
	// operator publishes it: name+hash+base64 key.
	Key string `yaml:"key"`
	// CAFile, when set, is a PEM bundle of the CAs that may issue the
	// witness's server certificate, instead of the system's roots.
	CAFile string `yaml:"ca_file"`
}

// validateWitnesses checks audit.witnesses. A witness URL must be https
// and allowed by egress.allow, because the gateway connects to it through
// the egress guard. The key's format is checked when the log opens.
func (f *File) validateWitnesses(v *validator) {
	list := f.Audit.Witnesses
	if len(list) > maxWitnesses {
		v.addf("audit.witnesses", "%d entries: list at most %d", len(list), maxWitnesses)
		return
	}
	seen := map[string]int{}
	for i, w := range list {
		path := fmt.Sprintf("audit.witnesses[%d]", i)
		u, err := url.Parse(w.URL)
		switch {
		case w.URL == "":
			v.addf(path+".url", "missing: give the witness's https submission prefix")
		case err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
			v.addf(path+".url", "invalid value %q: use an https URL without query or fragment", w.URL)
		case u.User != nil:
			v.addf(path+".url", "the URL carries a user name or password: the witness must authenticate the gateway another way")
		default:
			if err := f.checkEgressHost(u); err != nil {
				v.addf(path+".url", "%v", err)
			}
		}
		key := strings.TrimSpace(w.Key)
		if key == "" {
			v.addf(path+".key", "missing: give the witness's cosignature verifier key (name+hash+key)")
			continue
		}
		if j, ok := seen[key]; ok {
			v.addf(path+".key", "the same key as audit.witnesses[%d]: list each witness once", j)
		}
		seen[key] = i
	}
}
