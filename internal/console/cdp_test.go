//go:build consolebrowser

package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// browser drives headless Chromium over the Chrome DevTools Protocol on
// the --remote-debugging-pipe transport: Chromium reads JSON commands,
// each ended by a NUL byte, from its file descriptor 3 and writes answers
// and events the same way to descriptor 4. No port is opened.
type browser struct {
	cmd        *exec.Cmd
	toChrome   *os.File
	fromChrome *os.File

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]chan cdpMessage
	events  chan cdpMessage
	done    chan struct{}
	session string // the page's flattened session
}

type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// launchBrowser starts Chromium with the flags the console test requires
// and attaches to a new page of the given size.
func launchBrowser(ctx context.Context, chromium, profileDir string, width, height int) (*browser, error) {
	// Chromium's descriptor 3 is what it reads; 4 is what it writes.
	chromeIn, toChrome, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	fromChrome, chromeOut, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profileDir, "--remote-debugging-pipe",
		"--hide-scrollbars", "--force-device-scale-factor=1", fmt.Sprintf("--window-size=%d,%d", width, height),
		"about:blank")
	cmd.ExtraFiles = []*os.File{chromeIn, chromeOut}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	chromeIn.Close()
	chromeOut.Close()
	b := &browser{cmd: cmd, toChrome: toChrome, fromChrome: fromChrome, waiting: map[int64]chan cdpMessage{},
		events: make(chan cdpMessage, 1024), done: make(chan struct{})}
	go b.read()

	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		b.close()
		return nil, err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		b.close()
		return nil, err
	}
	b.session = attached.SessionID
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable"} {
		if err := b.call(ctx, b.session, m, nil, nil); err != nil {
			b.close()
			return nil, err
		}
	}
	err = b.call(ctx, b.session, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil)
	if err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// read hands each response to its caller and queues the events.
func (b *browser) read() {
	defer close(b.done)
	r := bufio.NewReaderSize(b.fromChrome, 1<<20)
	for {
		msg, err := r.ReadBytes(0)
		if err != nil {
			return
		}
		var m cdpMessage
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil {
			continue
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.waiting[m.ID]
			delete(b.waiting, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		select {
		case b.events <- m:
		default: // events beyond the buffer are dropped
		}
	}
}

// call sends one command and decodes its result into out.
func (b *browser) call(ctx context.Context, session, method string, params any, out any) error {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMessage, 1)
	b.waiting[id] = ch
	b.mu.Unlock()

	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := b.toChrome.Write(append(data, 0)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-b.done:
		return fmt.Errorf("%s: chromium exited", method)
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// eval runs a JavaScript expression in the page and decodes its value.
func (b *browser) eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := b.call(ctx, b.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("javascript %q: %s %s", expr, res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
	}
	if out != nil && len(res.Result.Value) > 0 {
		return json.Unmarshal(res.Result.Value, out)
	}
	return nil
}

// waitFor polls a JavaScript condition until it is true.
func (b *browser) waitFor(ctx context.Context, cond string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		var ok bool
		err := b.eval(ctx, "(function(){try{return document.readyState==='complete' && !!("+cond+")}catch(e){return false}})()", &ok)
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("condition still false")
			}
			return fmt.Errorf("waiting for %s: %w", cond, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *browser) navigate(ctx context.Context, url string) error {
	var res struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.call(ctx, b.session, "Page.navigate", map[string]any{"url": url}, &res); err != nil {
		return err
	}
	if res.ErrorText != "" {
		return fmt.Errorf("navigate to %s: %s", url, res.ErrorText)
	}
	return nil
}

// screenshot captures the whole page, up to maxHeight pixels, as PNG.
func (b *browser) screenshot(ctx context.Context, path string, width, maxHeight int) error {
	var height float64
	if err := b.eval(ctx, "document.documentElement.scrollHeight", &height); err != nil {
		return err
	}
	h := min(int(height), maxHeight)
	var shot struct {
		Data []byte `json:"data"` // base64 in JSON, decoded by encoding/json
	}
	err := b.call(ctx, b.session, "Page.captureScreenshot", map[string]any{
		"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": 0, "y": 0, "width": width, "height": h, "scale": 1},
	}, &shot)
	if err != nil {
		return err
	}
	return os.WriteFile(path, shot.Data, 0o644)
}

func (b *browser) close() {
	_ = b.call(context.Background(), "", "Browser.close", nil, nil)
	b.toChrome.Close()
	done := make(chan error, 1)
	go func() { done <- b.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
	b.fromChrome.Close()
}
