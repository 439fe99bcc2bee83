package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Time bounds of the calls made for one alert.
const (
	webhookTimeout = 10 * time.Second
	engageTimeout  = 30 * time.Second
)

// sendNotices hands each new alert to EngageCut and the webhook until ctx
// ends.
func (m *Monitor) sendNotices(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-m.notices:
			if a.CutRequested {
				go m.engage(ctx, a)
			}
			if m.opts.Webhook != nil {
				m.post(ctx, a)
			}
		}
	}
}

// engage calls EngageCut to cut the alert's partner off.
func (m *Monitor) engage(ctx context.Context, a Alert) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), engageTimeout)
	defer cancel()
	if err := m.opts.EngageCut(ctx, a); err != nil {
		m.log.Error("alert could not engage the kill switch", "alert", a.ID, "partner", partnerLabel(a.Partner), "error", err)
		return
	}
	m.log.Warn("alert engaged the kill switch", "alert", a.ID, "rule", a.Rule, "partner", a.Partner)
}

// webhookBody is the JSON document the webhook receives: the alert and its sender.
type webhookBody struct {
	Source string `json:"source"`
	Alert  Alert  `json:"alert"`
}

// post sends one alert to the webhook. Failures are logged with the
// webhook's host only, because its path or query may hold a secret.
func (m *Monitor) post(ctx context.Context, a Alert) {
	wh := m.opts.Webhook
	host := "webhook"
	if u, err := url.Parse(wh.URL); err == nil {
		host = u.Host
	}
	if err := sendWebhook(ctx, wh, a); err != nil {
		m.log.Error("alert webhook failed", "alert", a.ID, "host", host, "error", err)
	}
}

func sendWebhook(ctx context.Context, wh *Webhook, a Alert) error {
	body, err := json.Marshal(webhookBody{Source: "gatehouse", Alert: a})
	if err != nil {
		return err
	}
	if wh.Client.Timeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, webhookTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wh.URL, bytes.NewReader(body))
	if err != nil {
		// The URL is not quoted: it may carry a secret.
		return fmt.Errorf("alerts: invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gatehouse-alerts")
	resp, err := wh.Client.Do(req)
	if err != nil {
		return stripURL(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("alerts: the webhook returned status %d", resp.StatusCode)
	}
	return nil
}

// stripURL drops the URL from an *url.Error, which quotes it in full.
func stripURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("alerts: webhook %s: %w", ue.Op, ue.Err)
	}
	return err
}
