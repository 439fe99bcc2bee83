package auditlog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// crashChildEnv names the directory the crash child works in. The test
// binary re-executed with it set runs crashChild instead of the tests.
const crashChildEnv = "GATEHOUSE_AUDITLOG_CRASH_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	code := m.Run()
	for _, bl := range benchLogs {
		bl.close()
	}
	os.Exit(code)
}

// crashChild appends from many goroutines until killed, printing
// "index exchange-id" for every append that returned success.
func crashChild(dir string) {
	signer, err := LoadSigner(filepath.Join(dir, "signing.key"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	recipients, err := LoadRecipients(filepath.Join(dir, "recipients.txt"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	db, err := storage.Open(context.Background(), filepath.Join(dir, "audit.db"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	l, err := Open(context.Background(), db, Options{
		Origin: signer.Name(), Signer: signer, Recipients: recipients, CheckpointEvery: 64,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				e := testEntry(i, 1024)
				e.ExchangeID = fmt.Sprintf("pid%d-w%d-%d", os.Getpid(), w, i)
				a, err := l.AppendEntry(context.Background(), e)
				if err != nil {
					continue
				}
				mu.Lock()
				fmt.Fprintf(out, "%d %s\n", a.Index, e.ExchangeID)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary many times")
	}
	dir := t.TempDir()
	keys := writeCrashKeys(t, dir)
	rounds := 25
	acked := make(map[int64]string)
	for round := range rounds {
		lines := runAndKill(t, dir, time.Duration(20+rand.IntN(300))*time.Millisecond)
		for _, line := range lines {
			index, id, ok := strings.Cut(line, " ")
			n, err := strconv.ParseInt(index, 10, 64)
			if !ok || err != nil {
				continue // the last line may be cut by the kill
			}
			acked[n] = id
		}
		checkAcked(t, dir, keys, acked, round)
	}
	t.Logf("%d acknowledged appends across %d kills", len(acked), rounds)
	if len(acked) == 0 {
		t.Fatal("the child never acknowledged an append")
	}
	checkCoveredAfterReopen(t, dir, keys)
}

// checkCoveredAfterReopen opens the log a kill left behind and closes it,
// and checks that the checkpoint of the close covers every entry. A kill
// after a batch commit and before its checkpoint is stored leaves entries
// that no checkpoint covers, and the next writer must sign them.
// NOTE: the check can fail only when the last kill left such entries.
// That depends on when the kill lands, and it did in one of two tries.
func checkCoveredAfterReopen(t *testing.T, dir string, key note.Verifier) {
	t.Helper()
	signer, err := LoadSigner(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	recipients, err := LoadRecipients(filepath.Join(dir, "recipients.txt"))
	if err != nil {
		t.Fatal(err)
	}
	db := openTestDB(t, filepath.Join(dir, "audit.db"))
	defer db.Close()
	l, err := Open(context.Background(), db, Options{Origin: signer.Name(), Signer: signer, Recipients: recipients})
	if err != nil {
		t.Fatalf("reopen after the last kill: %v", err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatalf("close after the last kill: %v", err)
	}
	rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Intact() {
		t.Fatalf("log does not verify after reopening: %v", rep.Problems)
	}
	if rep.Uncovered != 0 {
		t.Errorf("after reopening and closing, %d of %d entries are covered by no checkpoint, want 0", rep.Uncovered, rep.Size)
	}
}

func writeCrashKeys(t *testing.T, dir string) note.Verifier {
	skey, vkey, err := note.GenerateKey(nil, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "signing.key"), []byte(skey), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "recipients.txt"), []byte(id.Recipient().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// runAndKill starts the child, lets it append for d, kills it with
// SIGKILL and returns the lines it printed.
func runAndKill(t *testing.T, dir string, d time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	read := make(chan struct{})
	go func() {
		defer close(read)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines = append(lines, s.Text())
		}
	}()
	time.Sleep(d)
	cmd.Process.Signal(syscall.SIGKILL)
	<-read
	cmd.Wait()
	if strings.Contains(stderr.String(), "auditlog:") {
		t.Fatalf("child failed: %s", stderr.String())
	}
	return lines
}

// checkAcked reopens the database and checks every acknowledged entry is
// there, with its exchange id, and that the whole log verifies.
func checkAcked(t *testing.T, dir string, key note.Verifier, acked map[int64]string, round int) {
	t.Helper()
	db := openTestDB(t, filepath.Join(dir, "audit.db"))
	defer db.Close()
	r, err := NewReader(context.Background(), db)
	if errors.Is(err, ErrNoLog) && len(acked) == 0 {
		// On a loaded machine the kill can come before the child has
		// created the log; with nothing acknowledged nothing can be lost.
		return
	}
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	got := make(map[int64]string)
	err = r.Scan(context.Background(), Query{}, func(row *Row) error {
		got[row.Leaf.Index] = row.Leaf.Entry.ExchangeID
		return nil
	})
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	for index, id := range acked {
		if got[index] != id {
			t.Fatalf("round %d: acknowledged entry %d (%s) reads back as %q", round, index, id, got[index])
		}
	}
	rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: key})
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	if !rep.Intact() {
		t.Fatalf("round %d: log does not verify after a kill: %v", round, rep.Problems)
	}
}
