package certreload

import (
	"bytes"
	"context"
	"strings"
	"time"
)

// Run checks the files every Interval until ctx is done. Start it in its
// own goroutine.
func (h *Holder) Run(ctx context.Context) {
	t := time.NewTicker(h.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.Reload()
		}
	}
}

// Reload checks the files once, as each tick of Run does, and reports
// whether a new generation was installed. When the files changed but do
// not form a valid set, it logs the error (once per distinct content),
// keeps the current generation and returns the error. It also rotates the
// current generation's session ticket key once a day and reports items
// close to expiry.
func (h *Holder) Reload() (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer h.warnExpiring()

	cur := h.current.Load()
	h.rotateTicketKeysIfDue(cur)
	files, err := h.readFiles()
	if err != nil {
		h.logFailure(err, [32]byte{1})
		return false, err
	}
	if files.digest == cur.digest {
		return false, nil
	}
	m, err := h.build(files, cur)
	if err == nil {
		err = h.install(m)
	}
	if err != nil {
		h.logFailure(err, files.digest)
		return false, err
	}
	h.lastFailed = [32]byte{}
	changed := h.changedFiles(files)
	h.installed = files
	if h.trust != nil {
		h.trust.apply(files.trust)
	}
	h.log.Info("certificates reloaded", "generation", h.generation.Load(), "changed", strings.Join(changed, " "),
		"cert_file", h.opts.CertFile, "not_after", m.cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return true, nil
}

// changedFiles returns the files whose content differs from the installed
// generation's, so that the reload's log line shows what an operator
// changed, such as a new CRL rather than a new certificate.
func (h *Holder) changedFiles(files fileSet) []string {
	var changed []string
	add := func(path string, old, cur []byte) {
		if path != "" && !bytes.Equal(old, cur) {
			changed = append(changed, path)
		}
	}
	add(h.opts.CertFile, h.installed.cert, files.cert)
	add(h.opts.KeyFile, h.installed.key, files.key)
	add(h.opts.ClientCAFile, h.installed.clientCAs, files.clientCAs)
	add(h.opts.CRLFile, h.installed.crl, files.crl)
	if h.trust != nil {
		add(h.trust.path, h.installed.trust, files.trust)
	}
	for i, path := range h.opts.PartnerCAFiles {
		var old []byte
		if i < len(h.installed.partnerCAs) {
			old = h.installed.partnerCAs[i]
		}
		add(path, old, files.partnerCAs[i])
	}
	return changed
}

// logFailure logs a rejected reload unless the same content was already
// rejected, so a broken file is logged once rather than every interval.
func (h *Holder) logFailure(err error, digest [32]byte) {
	if digest == h.lastFailed {
		return
	}
	h.lastFailed = digest
	h.log.Error("certificate reload rejected; the previous certificates stay in use", "error", err)
}

func (h *Holder) rotateTicketKeysIfDue(m *material) {
	if m.server == nil || h.keepTicketKeys {
		return
	}
	m.ticketMu.Lock()
	due := h.now().Sub(m.ticketRotated) >= ticketKeyPeriod
	keep := m.ticketKeys
	m.ticketMu.Unlock()
	if due {
		if err := m.rotateTicketKeys(h.now(), keep); err != nil {
			h.log.Error("session ticket key rotation failed", "error", err)
		}
	}
}

// ticketKeyPeriod is how long one session ticket key issues tickets.
const ticketKeyPeriod = 24 * time.Hour

// warnExpiring reports the items of the current generation that are inside
// the warning window, each at most once per warnRepeat.
func (h *Holder) warnExpiring() {
	now := h.now()
	for _, e := range h.current.Load().expiries {
		window := h.opts.ExpiryWarning
		if e.Item == "crl" {
			window = h.opts.CRLExpiryWarning
		}
		if e.NotAfter.IsZero() || e.NotAfter.Sub(now) > window {
			continue
		}
		if last, ok := h.warned[e]; ok && now.Sub(last) < warnRepeat {
			continue
		}
		h.warned[e] = now
		h.log.Warn("certificate material expires soon", "item", e.Item, "file", e.File,
			"subject", e.Subject, "not_after", e.NotAfter.UTC().Format(time.RFC3339))
		if h.opts.OnExpiring != nil {
			h.opts.OnExpiring(e)
		}
	}
}
